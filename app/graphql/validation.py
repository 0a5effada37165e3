"""Validation remembered per parsed document.

Strawberry's ValidationCache keys an LRU cache on (schema, document, rules). A parsed
document is a frozen dataclass, so using it as a key hashes the whole syntax tree on every
request: for the dashboard's operations that was a tenth of a millisecond, more than
validating is worth once cached. The parser cache already hands every request with the same
text the same document object, so this cache keys on identity instead (app/graphql/memo.py).
The pipeline (app/graphql/pipeline.py) validates through it, on both of its paths.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema
from strawberry.schema.schema import validate_document

from app.graphql.memo import IdentityMemo


@cache
def _memo(maxsize: int) -> IdentityMemo[list[GraphQLError]]:
    """(schema, document), rules -> the errors; one memo per size, shared by every schema's
    pipeline and every request."""
    return IdentityMemo(maxsize)


def validated(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[Any, ...], maxsize: int
) -> list[GraphQLError]:
    """The validation errors of `document` (Strawberry's validation, rules included),
    computed once per document object, schema and set of rules."""
    memo = _memo(maxsize)
    errors = memo.get((schema, document), rules)
    if errors is None:
        errors = validate_document(schema, document, rules)
        memo.put((schema, document), rules, errors)
    return list(errors)  # a copy: the caller may add to its list
