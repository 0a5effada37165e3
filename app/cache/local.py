"""The in-process tier: a bounded LRU whose entries expire."""

from __future__ import annotations

from collections import OrderedDict
from typing import Final


class _Absent:
    """The type of ABSENT."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


# Stored for "the database has no such row": a miss is remembered only in-process, briefly.
ABSENT: Final = _Absent()


class LocalTier:
    """Decoded entries by key, each with its own expiry (monotonic seconds).

    Entries are the decoded values themselves, so a hit costs a dict look-up. Every value
    cached is immutable (frozen dataclasses holding tuples and read-only mappings, checked by
    tests/app/test_hot_cache.py), so handing the same object to every request is safe: a
    caller can never change what the next request reads. `generation` counts evictions, so a
    load that raced with one does not store what it read before the change.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(1, max_entries)
        self.generation = 0
        self._entries: OrderedDict[str, tuple[float, object]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> object | None:
        """The entry, ABSENT for a remembered miss, or None when there is none (or it expired)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, value: object, ttl_s: float, now: float, generation: int) -> None:
        """Keep `value` (immutable) for `ttl_s`, unless something was evicted since
        `generation` was read (the value may predate that change)."""
        if ttl_s <= 0 or generation != self.generation:
            return
        self._entries[key] = (now + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def evict(self, key: str) -> None:
        """Forget `key` (it changed)."""
        self._entries.pop(key, None)
        self.generation += 1

    def clear(self) -> None:
        """Forget everything (invalidation messages may have been missed)."""
        self._entries.clear()
        self.generation += 1
