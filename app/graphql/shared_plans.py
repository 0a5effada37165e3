"""Plans kept across requests: where the executor (app.graphql.executor) keeps how each
selection of an operation is read, for every request that sends the same parsed operation.

graphql-core collects a selection's fields again on every request, and the executor worked
out its plan from them each time: five or six of each for the dashboard's page or document,
about 5 % of the page's instructions and 6 % of a document's with its chunks
(docs/BENCHMARKS.md, tenth pass).
The parser's cache (app.graphql.pipeline) hands every request with the same text the same
parsed document, so what depends only on that document and the schema can be kept with it.

Which fields are collected depends on the variables only through a directive whose argument
is a variable (`@include(if: $x)`, `@skip`, `@defer`). Operations with such a directive get
no shared plans: each of their requests works its own out, as before. For the others a
plan is keyed by its object type and the identities of its field nodes, which the entry
keeps alive with the operation and its fragments so that no identity is reused while the
entry exists.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)

# Distinct operations remembered (least recently used first out), as many as the
# pipeline's parser cache keeps documents.
MAX_OPERATIONS = 512


class Shared:
    """What every request running one operation shares, filled in by the executor as it
    works it out: its plans and graphql-core's collected selections, each keyed by
    `fields_key`."""

    __slots__ = ("collections", "plans")

    def __init__(self) -> None:
        self.plans: dict[tuple[Any, ...], Any] = {}
        self.collections: dict[tuple[Any, ...], Any] = {}


class _Entry:
    __slots__ = ("fragments", "operation", "schema", "shared")

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        shared: Shared | None,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments  # kept alive: the keys hold its nodes' identities
        self.shared = shared


_ENTRIES: OrderedDict[int, _Entry] = OrderedDict()


def shared_for(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> Shared | None:
    """What every request running `operation` on `schema` shares; None when its collected
    fields depend on variables."""
    entry = _ENTRIES.get(id(operation))
    if entry is not None and entry.operation is operation and entry.schema is schema:
        _ENTRIES.move_to_end(id(operation))
        return entry.shared
    selections = [operation.selection_set, *(f.selection_set for f in fragments.values())]
    shared = None if _depends_on_variables(selections) else Shared()
    _ENTRIES[id(operation)] = _Entry(schema, operation, fragments, shared)
    while len(_ENTRIES) > MAX_OPERATIONS:
        _ENTRIES.popitem(last=False)
    return shared


def fields_key(type_name: str, field_details: Iterable[Any]) -> tuple[Any, ...]:
    """A selection's key among its operation's: the object type and the identities of the
    field nodes selecting it (or selected in it)."""
    return (type_name, *[id(d.node) for d in field_details])


def _depends_on_variables(selection_sets: Iterable[SelectionSetNode | None]) -> bool:
    """True when a directive on a field, fragment spread or inline fragment takes a
    variable: which fields are collected may then differ between requests."""
    stack = [s for s in selection_sets if s is not None]
    while stack:
        for selection in stack.pop().selections:
            for directive in selection.directives or ():
                if any(_has_variable(a.value) for a in directive.arguments or ()):
                    return True
            below = getattr(selection, "selection_set", None)
            if below is not None:
                stack.append(below)
    return False


def _has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(v) for v in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(f.value) for f in value.fields)
    return False
