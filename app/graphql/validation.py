"""Validation remembered per parsed document.

Strawberry's ValidationCache keys an LRU cache on (schema, document, rules). A parsed
document is a frozen dataclass, so using it as a key hashes the whole syntax tree on every
request: for the dashboard's operations that was a tenth of a millisecond, more than
validating is worth once cached. The parser cache already hands every request with the same
text the same document object, so this cache keys on identity instead, keeping the schema
and the document alive beside the answer so that their ids cannot be reused while it is
remembered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

_Key = tuple[int, int, tuple[Any, ...]]
_results: OrderedDict[_Key, tuple[GraphQLSchema, DocumentNode, list[GraphQLError]]] = OrderedDict()


def validated(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[Any, ...], maxsize: int
) -> list[GraphQLError]:
    """The validation errors of `document` (Strawberry's validation, rules included),
    computed once per document object, schema and set of rules."""
    key = (id(schema), id(document), rules)
    known = _results.get(key)
    if known is not None and known[0] is schema and known[1] is document:
        _results.move_to_end(key)
        return list(known[2])  # a copy: the caller may add to its list
    errors = validate_document(schema, document, rules)
    _results[key] = (schema, document, errors)
    while len(_results) > maxsize:
        _results.popitem(last=False)
    return list(errors)


class ValidatedDocuments(SchemaExtension):
    """Validation through `validated`; Strawberry then skips its own."""

    def __init__(self, maxsize: int = 512) -> None:
        super().__init__()
        self.maxsize = maxsize

    def on_validate(self) -> Iterator[None]:
        """Set the request's validation errors before Strawberry would validate."""
        context = self.execution_context
        if context.graphql_document is not None:
            context.pre_execution_errors = validated(
                context.schema._schema,
                context.graphql_document,
                tuple(context.validation_rules),
                self.maxsize,
            )
        yield
