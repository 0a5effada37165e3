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

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from app.graphql.memo import IdentityMemo

# (the first field node, path) -> the answer
_answers: IdentityMemo[bool] = IdentityMemo(4096)


def selects(info: Any, *path: str) -> bool:
    """Whether the operation asks for the field at `path` (GraphQL names, under the current
    field), through fragments. A field under @skip or @include counts as asked for: priming
    a loader for nothing costs one statement, never a wrong answer."""
    # Strawberry's Info wraps graphql-core's, which holds the nodes and fragments.
    raw = getattr(info, "_raw_info", info)
    nodes: list[FieldNode] = raw.field_nodes
    known = _answers.get((nodes[0],), path)
    if known is not None:
        return known
    answer = _walk(nodes, path, raw.fragments)
    _answers.put((nodes[0],), path, answer)
    return answer


def _walk(nodes: Iterable[FieldNode], path: tuple[str, ...], fragments: dict[str, Any]) -> bool:
    level = list(nodes)
    for name in path:
        level = [
            field
            for node in level
            for field in _fields(node.selection_set, fragments, set())
            if field.name.value == name
        ]
        if not level:
            return False
    return True


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
