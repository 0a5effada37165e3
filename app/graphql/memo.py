"""Answers remembered per parsed document (or one of its nodes).

The parser cache hands every request that sends the same text the same document object, so
work that depends only on the document (validation, the cost estimate, what a selection
asks for) can be done once and found again by the document's identity. Hashing the
document itself would walk its whole syntax tree on every request (it is a frozen
dataclass), which is what these memos exist to avoid.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityMemo(Generic[V]):
    """Values by the identity of some objects plus an ordinary key, least recently used
    first out. The objects are kept with their entry, so an id cannot be reused by another
    object while its entry is remembered."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(1, max_entries)
        self._entries: OrderedDict[Hashable, tuple[tuple[object, ...], V]] = OrderedDict()

    def get(self, objects: tuple[object, ...], key: Hashable) -> V | None:
        """The value remembered for `objects` and `key`, or None."""
        slot = (tuple(map(id, objects)), key)
        entry = self._entries.get(slot)
        # Tuple comparison tries identity first: the same objects match at C speed.
        if entry is None or entry[0] != objects:
            return None
        self._entries.move_to_end(slot)
        return entry[1]

    def put(self, objects: tuple[object, ...], key: Hashable, value: V) -> None:
        """Remember `value` for `objects` and `key`."""
        slot = (tuple(map(id, objects)), key)
        self._entries[slot] = (objects, value)
        self._entries.move_to_end(slot)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
