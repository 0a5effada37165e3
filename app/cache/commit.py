"""Invalidations that wait for COMMIT, like jobs (app/jobs.py).

A service that changes a cached row calls `invalidate_after_commit(session, cache, key)`; the
entries are forgotten only when that transaction commits, and dropped if it rolls back, so
no process can reload the old row after being told it changed, and a change that never
happened evicts nothing. It works for every commit site (requests, jobs, scripts) because it
listens to the session's own commit; the hub travels in `session.info`, put there by the
session factory (`app.db.engine.create_sessionmaker`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from app.cache.hub import CacheHub
from app.cache.tiered import CacheSpec, TwoLevelCache
from app.db.raw import request_driver

T = TypeVar("T")

HUB = "parley.cache.hub"
REPLICA = "parley.cache.replica"
_PENDING = "parley.cache.pending"
_ANNOUNCING = "parley.cache.announcing"


def hub_of(session: AsyncSession | Session) -> CacheHub | None:
    """The process's cache hub, when the session came from the application's factory."""
    hub = session.info.get(HUB)
    return hub if isinstance(hub, CacheHub) else None


def cache_of(session: AsyncSession | Session, spec: CacheSpec[T]) -> TwoLevelCache[T] | None:
    """The named cache for `spec`, or None (no hub: read the database)."""
    hub = hub_of(session)
    return hub.cache(spec) if hub is not None else None


async def read_through(
    session: AsyncSession, spec: CacheSpec[T], entry: str, load: Callable[[], Awaitable[T]]
) -> T:
    """`entry` of `spec`'s cache, or `load()` (which never answers None) when missing or when
    the session has no hub; what a replica session loads stays in this process."""
    cache = cache_of(session, spec)
    found = await load() if cache is None else await cache.get(entry, load, share=shares(session))
    assert found is not None  # load never answers None
    return found


def shares(session: AsyncSession | Session) -> bool:
    """False for sessions on a replica: what they read may lag behind a change, so it serves
    this process for a moment only and never reaches Redis (`TwoLevelCache.get(share=)`)."""
    return not session.info.get(REPLICA, False)


def invalidate_after_commit(session: AsyncSession | Session, cache: str, *keys: str) -> None:
    """Forget these entries of `cache` everywhere once this transaction commits."""
    pending: set[tuple[str, str]] = session.info.setdefault(_PENDING, set())
    pending.update((cache, key) for key in keys)


async def announced(session: AsyncSession) -> None:
    """Wait until the invalidations of the last commit reached Redis (and so every process
    subscribed to it); requests call this before answering, so a caller who saw "revoked"
    cannot be served the old key by another process a moment later."""
    task = session.info.pop(_ANNOUNCING, None)
    hub = hub_of(session)
    if isinstance(task, asyncio.Task) and hub is not None:
        # Bounded: with Redis down the task keeps retrying in the background, and other
        # processes' local entries expire within CACHE_LOCAL_TTL_S anyway.
        await asyncio.wait({task}, timeout=2 * hub.settings.redis_timeout_ms / 1000)


# A session in a request's transaction (app/db/request.py) commits only a savepoint: its
# invalidations wait for the request's COMMIT (`request_committed`) instead.


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if request_driver(session) is None:
        _announce(session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without a commit (after one, nothing is pending).
    if transaction.parent is None and request_driver(session) is None:
        session.info.pop(_PENDING, None)


def request_committed(session: AsyncSession) -> None:
    """The request's transaction committed: send the invalidations its services asked for."""
    _announce(session.sync_session)


def request_ended(session: AsyncSession) -> None:
    """The request's transaction ended, committed or not: what is still pending is dropped."""
    session.info.pop(_PENDING, None)


def _announce(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    hub = hub_of(session)
    if pending and hub is not None:
        session.info[_ANNOUNCING] = hub.invalidate(pending)
