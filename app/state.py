"""Process-wide resources, built once at start-up and shared by requests and jobs."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.cache.hub import CacheHub
from app.config import Settings
from app.db.engine import create_engine, create_sessionmaker
from app.db.routing import Router
from app.observability import metrics
from tenancy.ratelimit.limiter import RateLimiter
from tenancy.security import Security

log = logging.getLogger(__name__)


def jwt_secret(settings: Settings) -> str:
    """The signing secret: configured in production; in development generated once and kept
    under the data directory so tokens survive restarts."""
    configured = settings.auth.jwt_secret.get_secret_value()
    if configured:
        return configured
    if settings.is_production:
        raise RuntimeError("AUTH_JWT_SECRET must be set in production")
    path = Path(settings.data_dir) / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


@dataclass
class AppState:
    """Everything a request or job needs beyond its own transaction."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    queue: Any  # arq.ArqRedis; typed loosely because arq ships no type information
    security: Security
    limiter: RateLimiter
    cache: CacheHub
    replica_engines: list[AsyncEngine] = field(default_factory=list)
    router: Router = field(init=False)

    def __post_init__(self) -> None:
        self.router = Router(
            self.sessions,
            [
                create_sessionmaker(engine, self.cache, replica=True)
                for engine in self.replica_engines
            ],
            self.redis,
            self.settings.redis.key_prefix,
            self.settings.database.read_your_writes_s,
        )

    @classmethod
    async def create(cls, settings: Settings, *, with_queue: bool = True) -> AppState:
        """Connect to PostgreSQL and Redis (connections open lazily on first use)."""
        engine = create_engine(settings.database)
        metrics.instrument_engine(engine, "primary")
        replicas = []
        for index, url in enumerate(settings.database.replica_urls):
            replica = create_engine(settings.database, url=url)
            metrics.instrument_engine(replica, f"replica-{index}")
            replicas.append(replica)
        redis = Redis.from_url(settings.redis.url, decode_responses=False)
        queue = None
        if with_queue:
            from arq import create_pool

            from app.queue import redis_settings

            queue = await create_pool(redis_settings(settings))
        cache = CacheHub(settings.cache, settings.redis.url, settings.redis.key_prefix)
        # Listening before the first request: an invalidation published from now on is seen.
        await cache.start()
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine, cache),
            cache=cache,
            redis=redis,
            queue=queue,
            security=Security(settings.auth, jwt_secret(settings)),
            replica_engines=replicas,
            limiter=RateLimiter(settings.redis.url, settings.ratelimit, settings.redis.key_prefix),
        )

    async def close(self) -> None:
        """Release pools."""
        if self.queue is not None:
            await self.queue.aclose()
        await self.redis.aclose()
        await self.limiter.close()
        await self.cache.close()
        await self.engine.dispose()
        for replica in self.replica_engines:
            await replica.dispose()
