"""The hostile-input stack: one in-process app with every domain switched on (embeddings and
extractive answers from the fake OpenAI server, Razorpay from the local Razorpay server) and
document limits raised so machine-generated documents are judged on their meaning, not on
their size. Rate limits are already out of reach in the suite's settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from pydantic import SecretStr

from app.config import ApiSettings, BillingSettings, RazorpaySettings, Settings
from app.db.engine import asyncpg_dsn
from tests.billing.conftest import KEY_ID, KEY_SECRET, OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, Billing
from tests.conftest import make_settings
from tests.support.ai import Stack, ai_settings, make_stack
from tests.support.openai_server import FakeOpenAI
from tests.support.razorpay_server import FakeRazorpay
from tests.support.services import TestServices

# Generated documents select every field they can reach: they need more room than people's
# documents. Depth stays at the production limit.
HOSTILE_API = ApiSettings(max_tokens=200_000, max_aliases=1_000, max_query_cost=10_000_000)


@pytest.fixture(scope="session")
def hostile_razorpay() -> Iterator[FakeRazorpay]:
    """A local Razorpay for the hostile stack, knowing the seeded catalogue's plans."""
    server = FakeRazorpay(
        KEY_ID, KEY_SECRET, plans={"plan_PrlyStarter0001": 149900, "plan_PrlyPro00000001": 499900}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hostile_settings(
    services: TestServices,
    settings: Settings,
    openai_server: FakeOpenAI,
    hostile_razorpay: FakeRazorpay,
) -> Settings:
    """Every domain configured; `settings` has already migrated the schema."""
    base = make_settings(
        services,
        api=HOSTILE_API,
        razorpay=RazorpaySettings(
            key_id=KEY_ID,
            key_secret=SecretStr(KEY_SECRET),
            webhook_secrets=[SecretStr(WEBHOOK_SECRET), SecretStr(OLD_WEBHOOK_SECRET)],
            base_url=hostile_razorpay.url,
            timeout_s=5,
        ),
        billing=BillingSettings(),
    )
    return ai_settings(base, openai_server.url, provider="openai", generation="extractive")


@pytest.fixture(scope="session")
async def hostile(hostile_settings: Settings) -> AsyncIterator[Stack]:
    """The hostile-input stack, served in-process."""
    async with make_stack(hostile_settings) as stack:
        yield stack


@pytest.fixture(scope="session")
async def superuser(services: TestServices) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection that reads across tenants (snapshots, row checks)."""
    conn = await asyncpg.connect(asyncpg_dsn(services.admin_url))
    yield conn
    await conn.close()


@pytest.fixture
def hostile_billing(
    hostile: Stack, hostile_razorpay: FakeRazorpay, superuser: asyncpg.Connection
) -> Billing:
    """Billing helpers (signed webhooks, a worker) bound to the hostile stack."""
    return Billing(hostile.http, hostile.state, hostile_razorpay, superuser)
