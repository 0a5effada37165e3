"""What an operation asks for below the field being resolved.

A resolver that returns a page of objects can fetch, in the same breath, what the page's
fields will ask for (the authors of a page of documents) and prime the request's loaders
with it. The fields then answer from the loader without waiting, so the page completes
without one coroutine per item. Asking is cheap: the answer is remembered per field node of
the parsed document, which the parser cache keeps for every request that sends the same
text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_argument_values

from app.graphql.memo import IdentityMemo

# (the first field node, path) -> the field nodes found there (none: not asked for)
_nodes: IdentityMemo[tuple[FieldNode, ...]] = IdentityMemo(4096)


def selects(info: Any, *path: str) -> bool:
    """Whether the operation asks for the field at `path` (GraphQL names, under the current
    field), through fragments. A field under @skip or @include counts as asked for: priming
    a loader for nothing costs one statement, never a wrong answer."""
    return bool(_found(getattr(info, "_raw_info", info), path))


def arguments(info: Any, *path: str) -> dict[str, Any] | None:
    """The arguments (GraphQL names, variables applied, defaults filled in) of the field at
    `path` below the current one, when the operation asks for it with one set of arguments
    (however many times, through fragments); None when it does not ask for it, or asks with
    several (aliases). For a resolver that fetches what that field will load."""
    raw = getattr(info, "_raw_info", info)
    found = _found(raw, path)
    if not found:
        return None
    definition = _definition(raw, path)
    if definition is None:
        return None
    variables = raw.variable_values
    if isinstance(variables, dict):  # Strawberry's executor gives the coerced values alone
        variables = VariableValues(sources={}, coerced=variables)
    try:
        answers = [get_argument_values(definition, node, variables) for node in found]
    except GraphQLError:  # the field itself will report it
        return None
    return answers[0] if all(answer == answers[0] for answer in answers) else None


def _found(raw: Any, path: tuple[str, ...]) -> tuple[FieldNode, ...]:
    # Strawberry's Info wraps graphql-core's (`raw`), which holds the nodes and fragments.
    # Remembered per field node of the parsed document, which the parser cache shares.
    first: FieldNode = raw.field_nodes[0]
    found = _nodes.get((first,), path)
    if found is None:
        found = tuple(_walk(raw.field_nodes, path, raw.fragments))
        _nodes.put((first,), path, found)
    return found


def _definition(raw: Any, path: tuple[str, ...]) -> Any:
    # The field definition at `path` from the current field's type (object types only: an
    # interface's field could resolve differently per type).
    definition = None
    kind = get_named_type(raw.return_type)
    for name in path:
        if not isinstance(kind, GraphQLObjectType) or name not in kind.fields:
            return None
        definition = kind.fields[name]
        kind = get_named_type(definition.type)
    return definition


def _walk(
    nodes: Iterable[FieldNode], path: tuple[str, ...], fragments: dict[str, Any]
) -> list[FieldNode]:
    # The field nodes at `path` (GraphQL names), through fragments.
    level = list(nodes)
    for name in path:
        level = [
            field
            for node in level
            for field in _fields(node.selection_set, fragments, set())
            if field.name.value == name
        ]
        if not level:
            return []
    return level


def _fields(
    selection_set: SelectionSetNode | None, fragments: dict[str, Any], seen: set[str]
) -> Iterator[FieldNode]:
    """The field nodes of a selection set, fragments spread out (each fragment once)."""
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                seen.add(name)
                yield from _fields(fragment.selection_set, fragments, seen)
