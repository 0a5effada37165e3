"""The per-request GraphQL context: one transaction, one principal, fresh DataLoaders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info as StrawberryInfo

from app.graphql.protection import GuardState
from app.jobs import JobBuffer
from app.state import AppState
from tenancy.principal import Principal

if TYPE_CHECKING:
    from app.graphql.loaders import Loaders


@dataclass
class Context:
    """Built per request, so loaders and caches never outlive it.

    Root query fields resolve concurrently but share one connection, which cannot run two
    statements at once: every use of the session goes through `db()`, which serialises them.
    """

    state: AppState
    session: AsyncSession
    principal: Principal
    user_agent: str | None = None
    origin: str | None = None
    jobs: JobBuffer = field(default_factory=JobBuffer)
    response_headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    guard: GuardState = field(default_factory=GuardState)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: Loaders | None = None

    def db(self) -> Held:
        """`async with context.db() as session`: the request's session, held exclusively
        for the block."""
        return Held(self._lock, self.session)

    @property
    def loaders(self) -> Loaders:
        """DataLoaders for this request, created on first use."""
        if self._loaders is None:
            from app.graphql.loaders import Loaders

            self._loaders = Loaders(self)
        return self._loaders


class Held:
    """The session under the request's lock (a plain class: most resolvers enter one, and
    a generator-based context manager costs several calls more)."""

    __slots__ = ("_lock", "_session")

    def __init__(self, lock: asyncio.Lock, session: AsyncSession) -> None:
        self._lock = lock
        self._session = session

    async def __aenter__(self) -> AsyncSession:
        await self._lock.acquire()
        return self._session

    async def __aexit__(self, *_exc: object) -> None:
        self._lock.release()  # whatever ended the block


Info = StrawberryInfo[Context, None]
