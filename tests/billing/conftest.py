"""Billing tests: the app configured with Razorpay keys pointing at the local Razorpay server,
a real arq worker to drain the queue, and helpers to send signed webhooks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from app.config import BillingSettings, RazorpaySettings, Settings
from app.db.engine import asyncpg_dsn
from app.jobs import QUEUE_INTERACTIVE
from app.server import create_app
from app.state import AppState
from app.worker import build_workers
from tests.conftest import make_settings
from tests.support.factories import Factory
from tests.support.graphql import GraphQL
from tests.support.razorpay_server import FakeRazorpay, encode, sign
from tests.support.services import TestServices

KEY_ID = "rzp_test_PrlyKey0001"
KEY_SECRET = "test-key-secret-0123456789"
WEBHOOK_SECRET = "whsec-current-0123456789"
OLD_WEBHOOK_SECRET = "whsec-previous-9876543210"
GRACE_S = 3 * 24 * 3600


@pytest.fixture(scope="session")
def razorpay() -> Iterator[FakeRazorpay]:
    """The local Razorpay, knowing the seeded catalogue's plan ids."""
    server = FakeRazorpay(
        KEY_ID, KEY_SECRET, plans={"plan_PrlyStarter0001": 149900, "plan_PrlyPro00000001": 499900}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def billing_settings(
    services: TestServices, settings: Settings, razorpay: FakeRazorpay
) -> Settings:
    """Test settings (the schema is migrated by `settings`) with Razorpay configured."""
    return make_settings(
        services,
        razorpay=RazorpaySettings(
            key_id=KEY_ID,
            key_secret=SecretStr(KEY_SECRET),
            webhook_secrets=[SecretStr(WEBHOOK_SECRET), SecretStr(OLD_WEBHOOK_SECRET)],
            base_url=razorpay.url,
            timeout_s=5,
        ),
        billing=BillingSettings(grace_period_s=GRACE_S),
    )


@pytest.fixture(scope="session")
async def billing_state(billing_settings: Settings) -> AsyncIterator[AppState]:
    """Pools for the billing app."""
    app_state = await AppState.create(billing_settings)
    yield app_state
    await app_state.close()


@pytest.fixture(scope="session")
async def billing_http(
    billing_settings: Settings, billing_state: AppState
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the billing-configured ASGI app in-process."""
    app = create_app(billing_settings, billing_state)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        yield client


@pytest.fixture
def gql(billing_http: httpx.AsyncClient) -> GraphQL:
    """An anonymous GraphQL client of the billing-configured app."""
    return GraphQL(billing_http)


@pytest.fixture
def factory(gql: GraphQL) -> Factory:
    """Creates users and workspaces through the public API."""
    return Factory(gql)


@pytest.fixture(scope="session")
async def admin_db(services: TestServices) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection, for checks and setup that cross tenants."""
    conn = await asyncpg.connect(asyncpg_dsn(services.admin_url))
    yield conn
    await conn.close()


@dataclass
class Billing:
    """Helpers for billing tests."""

    http: httpx.AsyncClient
    state: AppState
    razorpay: FakeRazorpay
    db: asyncpg.Connection

    async def deliver(
        self,
        body: dict[str, Any] | bytes,
        *,
        event_id: str | None = None,
        secret: str | None = WEBHOOK_SECRET,
        signature: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a webhook as Razorpay would: raw body, signature and event id headers."""
        raw = body if isinstance(body, bytes) else encode(body)
        sent: dict[str, str | bytes] = {"content-type": "application/json"}
        if signature is not None:
            sent["x-razorpay-signature"] = signature
        elif secret is not None:
            sent["x-razorpay-signature"] = sign(raw, secret)
        sent["x-razorpay-event-id"] = event_id or f"evt_{uuid.uuid4().hex[:14]}"
        sent.update(headers or {})
        return await self.http.post("/webhooks/razorpay", content=raw, headers=sent)

    async def drain(self) -> int:
        """Run the interactive queue's real arq worker (as `parley worker` builds it) until
        the queue is empty; returns how many jobs it finished."""
        worker = build_workers(
            self.state.settings, self.state, burst=True, queues=(QUEUE_INTERACTIVE,)
        )[0]
        try:
            await asyncio.wait_for(worker.main(), timeout=60)
        finally:
            await worker.close()
        return int(worker.jobs_complete + worker.jobs_failed)

    async def event_row(self, event_id: str) -> asyncpg.Record | None:
        """The ledger row of an event."""
        return await self.db.fetchrow("SELECT * FROM razorpay_events WHERE event_id = $1", event_id)

    async def subscriptions(self, workspace_id: uuid.UUID) -> list[asyncpg.Record]:
        """A workspace's subscription rows, newest first, with their plan codes."""
        return await self.db.fetch(
            "SELECT s.*, p.code AS plan_code FROM subscriptions s JOIN plans p ON p.id = s.plan_id "
            "WHERE s.workspace_id = $1 ORDER BY s.created_at DESC, s.id DESC",
            workspace_id,
        )

    async def current(self, workspace_id: uuid.UUID) -> asyncpg.Record:
        """The current subscription row (exactly one must exist)."""
        rows = [r for r in await self.subscriptions(workspace_id) if r["is_current"]]
        assert len(rows) == 1, rows
        return rows[0]


@pytest.fixture
def billing(
    billing_http: httpx.AsyncClient,
    billing_state: AppState,
    razorpay: FakeRazorpay,
    admin_db: asyncpg.Connection,
) -> Billing:
    """Billing helpers."""
    return Billing(billing_http, billing_state, razorpay, admin_db)
