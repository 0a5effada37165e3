"""Time-ordered UUIDs (version 7), generated in the application.

Ordering by id is ordering by creation, which makes keyset pagination and B-tree inserts cheap.
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """A random UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def uuid7_floor(moment: float) -> uuid.UUID:
    """The smallest UUIDv7 of the millisecond `moment` (Unix seconds): every id generated at
    or after it compares greater, so `id < uuid7_floor(t)` means "created before t"."""
    ms = int(moment * 1000)
    return uuid.UUID(int=((ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (0b10 << 62))
