"""Session-wide real services: PostgreSQL 18 + pgvector and Redis, migrated with Alembic, and
the app connected as the application role (never a superuser, never `create_all`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.config import (
    ApiSettings,
    AuthSettings,
    DatabaseSettings,
    RateLimitSettings,
    RedisSettings,
    Settings,
)
from app.db.bootstrap import migrate
from app.server import create_app
from app.state import AppState
from tests.support.factories import Factory
from tests.support.graphql import GraphQL
from tests.support.services import TestServices, start_services

pytest_plugins = ["tests.support.ai"]


@pytest.fixture(scope="session")
def services() -> Iterator[TestServices]:
    """Start PostgreSQL and Redis once per session."""
    running = start_services()
    try:
        yield running
    finally:
        running.stop()


def make_settings(services: TestServices, **overrides: object) -> Settings:
    """Settings pointing at the session's services, with cheap password hashing."""
    values: dict[str, object] = {
        "env": "test",
        "log_level": "WARNING",
        "data_dir": str(services.root / "data"),
        "database": DatabaseSettings(
            url=services.app_url, admin_url=services.admin_url, pool_size=5, max_overflow=5
        ),
        "redis": RedisSettings(url=services.redis_url),
        "auth": AuthSettings(
            jwt_secret=SecretStr("test-secret-" + "x" * 40),
            argon2_time_cost=1,
            argon2_memory_kib=8,
            argon2_parallelism=1,
        ),
        "api": ApiSettings(),
        # The whole suite shares one client IP and runs fast: budgets no test trips by accident.
        # Tests of the limits build apps with their own (tests/app/protect/).
        "ratelimit": RateLimitSettings(
            api_per_window=1_000_000,
            answers_per_window=1_000_000,
            user_per_window=1_000_000,
            visitor_per_window=1_000_000,
            anonymous_per_window=1_000_000,
        ),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(services: TestServices) -> Settings:
    """Test settings; the schema is migrated before anything uses them."""
    migrate(DatabaseSettings(url=services.app_url, admin_url=services.admin_url))
    return make_settings(services)


@pytest.fixture(scope="session")
async def state(settings: Settings) -> AsyncIterator[AppState]:
    """Pools shared by the session's app instances."""
    app_state = await AppState.create(settings)
    yield app_state
    await app_state.close()


@pytest.fixture(scope="session")
async def http(settings: Settings, state: AppState) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the ASGI app in-process."""
    app = create_app(settings, state)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQL:
    """An anonymous GraphQL client."""
    return GraphQL(http)


@pytest.fixture
def factory(gql: GraphQL) -> Factory:
    """Creates users, workspaces and keys through the public API."""
    return Factory(gql)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parents[1]


class StatementLog:
    """SQL statements the app's engine executed while recording."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.recording = False

    def __len__(self) -> int:
        return len(self.statements)


@pytest.fixture
def sql_log(state: AppState) -> Iterator[StatementLog]:
    """Record every statement sent to PostgreSQL by the app (query-count tests)."""
    from tests.support.statements import observing

    log = StatementLog()

    def record(statement: str) -> None:
        if log.recording:
            log.statements.append(statement)

    with observing(state.engine, record):
        yield log
