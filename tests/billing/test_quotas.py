"""Quotas where usage happens: typed QUOTA_EXCEEDED errors, warnings at 80%, and checks that
stay exact under concurrency on the real database."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.engine import create_engine, create_sessionmaker
from app.db.tenant import tenant_transaction
from app.errors import QuotaExceeded
from billing.entitlements import service as entitlements
from billing.entitlements.limits import Limit
from billing.usage import service as usage
from billing.usage.metrics import Metric, next_month_start
from tests.billing.conftest import Billing
from tests.billing.helpers import custom_plan, put_on_plan, ws
from tests.support.factories import Factory


@pytest.fixture(scope="module")
async def wide_sessions(
    billing_settings: Settings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A pool of 60 connections, so 50 transactions really run at once."""
    engine = create_engine(billing_settings.database, pool_size=60, max_overflow=0)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_members_limit_counts_pending_invitations(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Three seats")
    await put_on_plan(billing, ws(tenant), await custom_plan(billing, members=3))
    for email in ("a@example.com", "b@example.com"):
        assert (await tenant.gql.op("InviteMember", {"input": {"email": email}})).data
    refused = await tenant.gql.op("InviteMember", {"input": {"email": "c@example.com"}})
    assert refused.code == "QUOTA_EXCEEDED"
    extensions = refused.errors[0]["extensions"]
    assert extensions["limit"] == "MEMBERS"
    assert (extensions["limitValue"], extensions["used"], extensions["requested"]) == (3, 3, 1)
    assert "resetsAt" in extensions and extensions["resetsAt"] is None
    assert "3 members (including pending invitations)" in refused.errors[0]["message"]
    assert refused.status == 200
    # Nothing was written for the refused invitation.
    count = await billing.db.fetchval(
        "SELECT count(*) FROM invitations WHERE workspace_id = $1", ws(tenant)
    )
    assert count == 2


async def test_publishable_keys_limit(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("One key")
    await put_on_plan(billing, ws(tenant), await custom_plan(billing, publishable_keys=1))
    variables = {"input": {"name": "site", "allowedOrigins": ["https://shop.example.com"]}}
    first = (await tenant.gql.op("CreatePublishableKey", variables)).data
    refused = await tenant.gql.op("CreatePublishableKey", variables)
    assert refused.code == "QUOTA_EXCEEDED"
    assert refused.errors[0]["extensions"]["limit"] == "PUBLISHABLE_KEYS"
    # Secret keys are not limited by it; revoking frees the slot.
    assert (await tenant.gql.op("CreateSecretKey", {"input": {"name": "server"}})).data
    key_id = first["createPublishableKey"]["apiKey"]["id"]
    assert (await tenant.gql.op("RevokeApiKey", {"id": key_id})).data
    assert (await tenant.gql.op("CreatePublishableKey", variables)).data


async def test_monthly_limits_say_when_they_reset(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Monthly")
    workspace = ws(tenant)
    await put_on_plan(billing, workspace, await custom_plan(billing, conversations_per_month=2))
    for _ in range(2):
        async with tenant_transaction(billing.state.sessions, workspace) as session:
            await entitlements.require(session, workspace, Limit.CONVERSATIONS_PER_MONTH)
            await usage.record(session, workspace, Metric.CONVERSATIONS)
    async with tenant_transaction(billing.state.sessions, workspace) as session:
        with pytest.raises(QuotaExceeded) as caught:
            await entitlements.require(session, workspace, Limit.CONVERSATIONS_PER_MONTH)
    error = caught.value
    assert error.extensions["limit"] == "CONVERSATIONS_PER_MONTH"
    assert error.extensions["resetsAt"] == next_month_start().isoformat()
    assert "resets at" in error.message
    # Next month the allowance is back.
    next_month = next_month_start() + dt.timedelta(days=1)
    async with tenant_transaction(billing.state.sessions, workspace) as session:
        await entitlements.require(
            session, workspace, Limit.CONVERSATIONS_PER_MONTH, now=next_month
        )


async def test_documents_and_bytes_are_checked_together(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Documents")
    workspace = ws(tenant)
    await put_on_plan(
        billing, workspace, await custom_plan(billing, documents=10, stored_bytes=1000)
    )
    async with tenant_transaction(billing.state.sessions, workspace) as session:
        await entitlements.require_all(
            session, workspace, {Limit.STORED_BYTES: 900, Limit.DOCUMENTS: 1}
        )
        await usage.record(session, workspace, Metric.DOCUMENTS, 1)
        await usage.record(session, workspace, Metric.STORED_BYTES, 900)
    async with tenant_transaction(billing.state.sessions, workspace) as session:
        with pytest.raises(QuotaExceeded) as caught:
            await entitlements.require_all(
                session, workspace, {Limit.DOCUMENTS: 1, Limit.STORED_BYTES: 101}
            )
    assert caught.value.extensions["limit"] == "STORED_BYTES"
    assert caught.value.extensions["used"] == 900
    with pytest.raises(ValueError, match=r"not checked with require"):
        async with tenant_transaction(billing.state.sessions, workspace) as session:
            await entitlements.require(session, workspace, Limit.API_REQUESTS_PER_MINUTE)


async def test_usage_at_80_percent_is_a_warning_in_graphql(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Warn me")
    workspace = ws(tenant)
    await put_on_plan(
        billing,
        workspace,
        await custom_plan(billing, documents=10, members=2, ai_tokens_per_month=1000),
    )
    async with tenant_transaction(billing.state.sessions, workspace) as session:
        await usage.record(session, workspace, Metric.DOCUMENTS, 8)
        await entitlements.reserve(session, workspace, 300)
    report = (await tenant.gql.op("Quotas")).data["quotas"]
    by_limit = {q["limit"]: q for q in report["quotas"]}
    documents = by_limit["DOCUMENTS"]
    assert (documents["used"], documents["maximum"], documents["level"]) == (8, 10, "WARNING")
    assert documents["resetsAt"] is None
    assert by_limit["MEMBERS"]["level"] == "OK"  # 1 of 2 = 50%
    assert by_limit["AI_TOKENS_PER_MONTH"]["reserved"] == 300
    assert by_limit["AI_TOKENS_PER_MONTH"]["level"] == "OK"
    assert by_limit["API_REQUESTS_PER_MINUTE"]["used"] is None
    assert report["warnings"] == [documents["warning"]]
    assert "80% of documents used (8 of 10)" in documents["warning"]
    async with tenant_transaction(billing.state.sessions, workspace) as session:
        await usage.record(session, workspace, Metric.DOCUMENTS, 2)
    report = (await tenant.gql.op("Quotas")).data["quotas"]
    assert {q["limit"]: q["level"] for q in report["quotas"]}["DOCUMENTS"] == "EXCEEDED"


async def _race(
    sessions: async_sessionmaker[AsyncSession], workspace: uuid.UUID, attempt: object
) -> list[bool]:
    async def one() -> bool:
        try:
            async with tenant_transaction(sessions, workspace) as session:
                await attempt(session)  # type: ignore[operator]
        except QuotaExceeded:
            return False
        return True

    return list(await asyncio.gather(*(one() for _ in range(50))))


async def test_50_parallel_reservations_against_10_remaining_admit_exactly_10(
    factory: Factory, billing: Billing, wide_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = await factory.tenant("Token race")
    workspace = ws(tenant)
    await put_on_plan(billing, workspace, await custom_plan(billing, ai_tokens_per_month=10_000))
    # 9,000 used already: 1,000 remain, ten reservations of 100.
    async with tenant_transaction(billing.state.sessions, workspace) as session:
        held = await entitlements.reserve(session, workspace, 9_000)
        await entitlements.commit(
            session, workspace, held.id, input_tokens=6_000, output_tokens=3_000
        )

    async def ask(session: AsyncSession) -> None:
        await entitlements.reserve(session, workspace, 100)

    results = await _race(wide_sessions, workspace, ask)
    assert results.count(True) == 10
    row = await billing.db.fetchrow(
        "SELECT value, reserved FROM usage_counters "
        "WHERE workspace_id = $1 AND metric = 'ai_tokens'",
        workspace,
    )
    assert (row["value"], row["reserved"]) == (9_000, 1_000)
    held_rows = await billing.db.fetchval(
        "SELECT count(*) FROM quota_reservations WHERE workspace_id = $1 AND status = 'held'",
        workspace,
    )
    assert held_rows == 10


async def test_50_parallel_asks_against_10_remaining_conversations_admit_exactly_10(
    factory: Factory, billing: Billing, wide_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = await factory.tenant("Ask race")
    workspace = ws(tenant)
    await put_on_plan(billing, workspace, await custom_plan(billing, conversations_per_month=25))
    async with tenant_transaction(billing.state.sessions, workspace) as session:
        await usage.record(session, workspace, Metric.CONVERSATIONS, 15)

    async def ask(session: AsyncSession) -> None:
        await entitlements.require(session, workspace, Limit.CONVERSATIONS_PER_MONTH)
        await usage.record(session, workspace, Metric.CONVERSATIONS)

    results = await _race(wide_sessions, workspace, ask)
    assert results.count(True) == 10
    value = await billing.db.fetchval(
        "SELECT value FROM usage_counters WHERE workspace_id = $1 AND metric = 'conversations'",
        workspace,
    )
    assert value == 25


async def test_50_parallel_invitations_against_10_free_seats_admit_exactly_10(
    factory: Factory, billing: Billing, wide_sessions: async_sessionmaker[AsyncSession]
) -> None:
    from app.config import AuthSettings
    from app.jobs import JobBuffer
    from tenancy.principal import Principal, PrincipalKind, Role
    from tenancy.workspaces import service as workspaces

    tenant = await factory.tenant("Seat race")
    workspace = ws(tenant)
    await put_on_plan(billing, workspace, await custom_plan(billing, members=11))
    owner = Principal(kind=PrincipalKind.SYSTEM, workspace_id=workspace, role=Role.OWNER)

    async def invite(session: AsyncSession) -> None:
        await workspaces.invite(
            session,
            owner,
            AuthSettings(),
            JobBuffer(),
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            role="member",
            email_configured=False,
        )

    results = await _race(wide_sessions, workspace, invite)
    assert results.count(True) == 10


async def test_commit_release_and_expiry_of_reservations(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Reservations")
    workspace = ws(tenant)
    await put_on_plan(billing, workspace, await custom_plan(billing, ai_tokens_per_month=1_000))
    sessions = billing.state.sessions

    async def counter() -> tuple[int, int]:
        row = await billing.db.fetchrow(
            "SELECT value, reserved FROM usage_counters WHERE workspace_id = $1 "
            "AND metric = 'ai_tokens'",
            workspace,
        )
        return int(row["value"]), int(row["reserved"])

    async with tenant_transaction(sessions, workspace) as session:
        ok = await entitlements.reserve(session, workspace, 400)
        failing = await entitlements.reserve(session, workspace, 400)
    assert await counter() == (0, 800)
    async with tenant_transaction(sessions, workspace) as session:
        with pytest.raises(QuotaExceeded) as caught:
            await entitlements.reserve(session, workspace, 300)
    assert caught.value.extensions["limit"] == "AI_TOKENS_PER_MONTH"
    assert caught.value.extensions["used"] == 800
    # The model call used less than estimated; the other failed.
    async with tenant_transaction(sessions, workspace) as session:
        await entitlements.commit(session, workspace, ok.id, input_tokens=250, output_tokens=50)
        await entitlements.release(session, workspace, failing.id)
    assert await counter() == (300, 0)
    # Settling twice changes nothing.
    async with tenant_transaction(sessions, workspace) as session:
        await entitlements.commit(session, workspace, ok.id, input_tokens=250, output_tokens=50)
        await entitlements.release(session, workspace, failing.id)
    assert await counter() == (300, 0)
    snapshot = (await tenant.gql.op("Usage")).data["usage"]
    assert (snapshot["inputTokens"], snapshot["outputTokens"], snapshot["aiTokens"]) == (
        250,
        50,
        300,
    )
    # A caller that crashed holding 700 tokens does not block the workspace for long.
    async with tenant_transaction(sessions, workspace) as session:
        await entitlements.reserve(session, workspace, 700, ttl=dt.timedelta(seconds=1))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    async with tenant_transaction(sessions, workspace) as session:
        await entitlements.reserve(session, workspace, 700, now=later)
    assert await counter() == (300, 700)
    with pytest.raises(ValueError, match="tokens"):
        async with tenant_transaction(sessions, workspace) as session:
            await entitlements.reserve(session, workspace, 0)
