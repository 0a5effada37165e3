"""Read replicas: which server a GraphQL operation's transaction runs on.

With DATABASE_REPLICA_URLS set, queries go to a streaming replica (round robin) and everything
else to the primary. Row-level security is part of the replicated schema, and the tenant is
set in the transaction exactly as on the primary, so isolation holds the same there.

Read-your-writes: replicas lag by a few milliseconds to seconds. After a principal's mutation
commits, a key in Redis pins that principal's reads to the primary for
DATABASE_READ_YOUR_WRITES_S seconds, so it sees what it just wrote; other principals may read
a slightly older state. The principal is known before authentication (which needs a database)
from its credential: the user id inside a verified access token, or the hash of an API key.
A replica that cannot serve a request (unreachable, or not yet holding a session created a
moment ago) makes the request run again on the primary (see app/graphql/http.py).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.graphql.operation import QUERY
from app.observability import metrics

log = logging.getLogger(__name__)

PRIMARY = "primary"
REPLICA = "replica"


@dataclass(frozen=True, slots=True)
class Route:
    """Where one operation runs."""

    sessions: async_sessionmaker[AsyncSession]
    replica: bool
    writes: bool
    sticky_key: str | None


def sticky_key(bearer: str | None, security: Any) -> str | None:
    """Who is asking, for read-your-writes: `user:<id>` for a valid access token, `key:<hash>`
    for an API key, None for anonymous callers (nothing of theirs to read back)."""
    if not bearer:
        return None
    if bearer.startswith(("sk_", "pk_")):
        return "key:" + hashlib.sha256(bearer.encode()).hexdigest()[:32]
    claims = security.access_tokens.decode(bearer)
    return f"user:{claims.user_id}" if claims is not None else None


class Router:
    """Chooses primary or replica per operation and remembers recent writers."""

    def __init__(
        self,
        primary: async_sessionmaker[AsyncSession],
        replicas: list[async_sessionmaker[AsyncSession]],
        redis: Any,
        key_prefix: str,
        read_your_writes_s: float,
    ) -> None:
        self.primary = primary
        self.replicas = replicas
        self.redis = redis
        self.key_prefix = key_prefix
        self.window_ms = max(1, int(read_your_writes_s * 1000))
        self._next = itertools.cycle(range(len(replicas))) if replicas else None

    def _key(self, sticky: str) -> str:
        return f"{self.key_prefix}ryw:{sticky}"

    async def route(self, kind: str, bearer: str | None, security: Any) -> Route:
        """The route for an operation of `kind` ("query", "mutation"...)."""
        writes = kind != QUERY
        if not self.replicas or self._next is None:
            return Route(self.primary, False, writes, None)
        sticky = sticky_key(bearer, security)
        if writes:
            metrics.db_route(PRIMARY, "write")
            return Route(self.primary, False, True, sticky)
        if sticky is not None:
            try:
                recent = await self.redis.exists(self._key(sticky))
            except Exception as exc:  # without Redis, be safe: read from the primary
                log.warning("read-your-writes check failed: %s", type(exc).__name__)
                recent = True
            if recent:
                metrics.db_route(PRIMARY, "read_your_writes")
                return Route(self.primary, False, False, sticky)
        metrics.db_route(REPLICA, "read")
        return Route(self.replicas[next(self._next)], True, False, sticky)

    def primary_route(self, route: Route, reason: str) -> Route:
        """The same operation, on the primary."""
        metrics.db_route(PRIMARY, reason)
        return replace(route, sessions=self.primary, replica=False)

    async def wrote(self, sticky: str | None) -> None:
        """Pin `sticky`'s reads to the primary for the read-your-writes window."""
        if not self.replicas or sticky is None:
            return
        try:
            await self.redis.set(self._key(sticky), b"1", px=self.window_ms)
        except Exception as exc:
            log.warning("could not record a write for read-your-writes: %s", type(exc).__name__)

    async def after_replica_read(self, principal: Any) -> None:
        """Record the use of an API key whose request a replica served (a replica cannot
        write `last_used_at`): at most once a minute per key, on the primary."""
        key_id, workspace_id = principal.key_id, principal.workspace_id
        if key_id is None or workspace_id is None:
            return
        try:
            first = await self.redis.set(f"{self.key_prefix}keyuse:{key_id}", b"1", nx=True, ex=60)
            if not first:
                return
            from app.db.tenant import tenant_transaction
            from tenancy.apikeys import repository as keys_repository

            async with tenant_transaction(self.primary, workspace_id) as session:
                await keys_repository.touch_key(session, workspace_id, key_id)
        except Exception as exc:
            log.warning("could not record API key use: %s", type(exc).__name__)
