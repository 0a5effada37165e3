"""API keys as the hot path needs them, through the two-level cache (app/cache).

Entries are keyed by the workspace named in the presented key and the SHA-256 of the whole
key (or, for widget visitors, the key id their signed token carries), exactly what the
database is asked under that workspace's row-level security. A cached entry therefore only
ever answers for the very secret whose hash the database matched, and a key of workspace A
cannot be looked up under workspace B. Only active keys are stored; "no such key" is
remembered by one process for a moment, never in Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.cache.commit import invalidate_after_commit
from app.cache.tiered import CacheSpec, TwoLevelCache
from tenancy.apikeys.models import ApiKey

NAME = "apikey"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What authentication needs of an active key."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    kind: str
    role: str | None
    allowed_origins: tuple[str, ...]

    @classmethod
    def of(cls, key: ApiKey) -> KeyInfo:
        """From the row."""
        return cls(key.id, key.workspace_id, key.kind, key.role, tuple(key.allowed_origins))


def _encode(info: KeyInfo) -> bytes:
    return orjson.dumps(
        [str(info.id), str(info.workspace_id), info.kind, info.role, list(info.allowed_origins)]
    )


def _decode(raw: bytes) -> KeyInfo:
    key_id, workspace_id, kind, role, origins = orjson.loads(raw)
    return KeyInfo(uuid.UUID(key_id), uuid.UUID(workspace_id), kind, role, tuple(origins))


SPEC = CacheSpec(NAME, _encode, _decode)


def by_hash(workspace_id: uuid.UUID, secret_hash: bytes) -> str:
    """The entry of the key whose full text hashes to `secret_hash`."""
    return f"h:{workspace_id}:{secret_hash.hex()}"


def by_id(workspace_id: uuid.UUID, key_id: uuid.UUID) -> str:
    """The entry of a key by id (widget visitors' tokens name their key)."""
    return f"i:{workspace_id}:{key_id}"


async def lookup(
    cache: TwoLevelCache[KeyInfo] | None,
    workspace_id: uuid.UUID,
    entry: str,
    load: Callable[[], Awaitable[ApiKey | None]],
    *,
    share: bool = True,
) -> KeyInfo | None:
    """The active key for `entry` (built by `by_hash` / `by_id` from `workspace_id`), from
    the cache or `load()`; None when there is no such active key."""

    async def load_info() -> KeyInfo | None:
        key = await load()
        if key is None or key.revoked_at is not None:
            return None
        return KeyInfo.of(key)

    info = await load_info() if cache is None else await cache.get(entry, load_info, share=share)
    # Belt and braces: an entry can only ever describe a key of the workspace it is filed under.
    if info is not None and info.workspace_id != workspace_id:
        return None
    return info


def forget(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID, secret_hash: bytes
) -> None:
    """After this transaction commits, no process serves the key from a cache any more."""
    invalidate_after_commit(
        session, NAME, by_hash(workspace_id, secret_hash), by_id(workspace_id, key_id)
    )
