"""Engine and session factory for the application role."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.cache.commit import HUB, REPLICA
from app.cache.hub import CacheHub
from app.config import DatabaseSettings


def asyncpg_dsn(url: str) -> str:
    """The same URL without SQLAlchemy's driver suffix, for asyncpg and psql."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlalchemy_url(url: str) -> str:
    """Normalise a libpq-style URL to the asyncpg dialect SQLAlchemy expects."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(
    settings: DatabaseSettings, url: str | None = None, **overrides: Any
) -> AsyncEngine:
    """An engine for the application role, with a bounded pool and a statement timeout so a
    runaway query cannot hold a connection forever."""
    options: dict[str, Any] = {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_pre_ping": False,
        "connect_args": {
            "server_settings": {
                "application_name": "parley",
                "statement_timeout": str(settings.statement_timeout_ms),
            },
        },
    }
    options.update(overrides)
    return create_async_engine(sqlalchemy_url(url or settings.url), **options)


def create_sessionmaker(
    engine: AsyncEngine, cache: CacheHub | None = None, *, replica: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (GraphQL serialises them later).
    With `cache`, sessions carry the process's cache hub: services read through it and their
    invalidations run after COMMIT (app/cache/commit.py). Sessions on a `replica` never
    share what they read through Redis (a replica may lag behind a change)."""
    info = {HUB: cache, REPLICA: replica} if cache is not None else None
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)
