"""Apps with their own limits for the protection tests, sharing the session's databases.

Each app gets its own Redis key prefix, so its buckets and persisted queries start empty and no
test sees another's counters.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.config import ApiSettings, RateLimitSettings, RedisSettings, Settings
from app.server import create_app
from app.state import AppState
from tenancy.ratelimit.limiter import RateLimiter
from tests.conftest import make_settings
from tests.support.graphql import GraphQL
from tests.support.services import TestServices

CLIENT_IP = "203.0.113.7"
MakeApp = Callable[..., Awaitable["ProtectedApp"]]


@dataclasses.dataclass
class ProtectedApp:
    """An app under test: its settings, state and an HTTP client."""

    settings: Settings
    state: AppState
    http: httpx.AsyncClient

    def gql(self, token: str | None = None, workspace: str | None = None) -> GraphQL:
        """A GraphQL client of this app with the given credentials."""
        return GraphQL(self.http, token, workspace)

    async def post(self, body: Any, **headers: str) -> httpx.Response:
        """POST a raw JSON body to /graphql."""
        return await self.http.post("/graphql", json=body, headers=headers)


def limits(**values: Any) -> RateLimitSettings:
    """Rate-limit settings for a test: generous unless stated."""
    defaults: dict[str, Any] = {
        "api_per_window": 1_000,
        "answers_per_window": 1_000,
        "user_per_window": 1_000,
        "visitor_per_window": 1_000,
        "anonymous_per_window": 1_000,
        "principal_share": 1.0,
    }
    return RateLimitSettings(**{**defaults, **values})


@pytest.fixture
async def make_app(
    services: TestServices, state: AppState, settings: Settings
) -> AsyncIterator[MakeApp]:
    """Build apps with overridden settings (`ratelimit=limits(...)`, `api=ApiSettings(...)`)."""
    made: list[ProtectedApp] = []

    async def make(
        *,
        ratelimit: RateLimitSettings | None = None,
        api: ApiSettings | None = None,
        client_ip: str = CLIENT_IP,
        prefix: str | None = None,
        redis_url: str | None = None,
        **overrides: Any,
    ) -> ProtectedApp:
        redis = RedisSettings(
            url=redis_url or services.redis_url,
            key_prefix=prefix or f"t{uuid.uuid4().hex[:12]}:",
        )
        app_settings = make_settings(
            services,
            ratelimit=ratelimit or limits(),
            api=api or ApiSettings(),
            redis=redis,
            **overrides,
        )
        limiter = RateLimiter(redis.url, app_settings.ratelimit, redis.key_prefix)
        app_state = dataclasses.replace(state, settings=app_settings, limiter=limiter)
        transport = httpx.ASGITransport(
            app=create_app(app_settings, app_state), client=(client_ip, 50000)
        )
        client = httpx.AsyncClient(transport=transport, base_url="http://parley.test")
        made.append(ProtectedApp(app_settings, app_state, client))
        return made[-1]

    yield make
    for app in made:
        await app.http.aclose()
        await app.state.limiter.close()
