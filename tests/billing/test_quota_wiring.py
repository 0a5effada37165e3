"""Plan quotas where usage happens: documents, conversations and AI tokens, end to end
through GraphQL and real workers."""

from __future__ import annotations

import asyncpg

from app.db.engine import asyncpg_dsn
from billing.usage.metrics import LIFETIME, month_start
from tests.support.ai import Stack
from tests.support.factories import Tenant
from tests.support.knowledge import add_document, row_id
from tests.support.openai_server import FakeOpenAI

POLICY = "# Help\n\n## Returns\n\nYou can return any item within 30 days for a full refund.\n"


async def _set_usage(
    stack: Stack, tenant: Tenant, metric: str, value: int, *, monthly: bool
) -> None:
    """Put the workspace at a given usage (as if it had used that much), over the admin URL."""
    period = month_start() if monthly else LIFETIME
    conn = await asyncpg.connect(asyncpg_dsn(stack.state.settings.database.admin_url))
    try:
        await conn.execute(
            """INSERT INTO usage_counters (workspace_id, metric, period_start, value)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (workspace_id, metric, period_start) DO UPDATE SET value = $4""",
            row_id(tenant.id),
            metric,
            period,
            value,
        )
    finally:
        await conn.close()


async def test_document_quota(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    await add_document(tenant, POLICY)
    await _set_usage(extractive, tenant, "documents", 50, monthly=False)  # the free plan's 50
    refused = await tenant.gql.op(
        "AddDocument", {"input": {"content": POLICY, "format": "MARKDOWN"}}
    )
    assert refused.code == "QUOTA_EXCEEDED"
    details = refused.errors[0]["extensions"]
    assert (details["limit"], details["limitValue"], details["resetsAt"]) == ("DOCUMENTS", 50, None)


async def test_conversation_quota_allows_continuing(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    await add_document(tenant, POLICY)
    await extractive.drain()
    first = (await tenant.gql.op("Ask", {"input": {"question": "Can I return items?"}})).data
    conversation = first["ask"]["conversation"]["id"]
    await _set_usage(extractive, tenant, "conversations", 500, monthly=True)  # free: 500/month
    refused = await tenant.gql.op("Ask", {"input": {"question": "A new topic?"}})
    assert refused.code == "QUOTA_EXCEEDED"
    assert refused.errors[0]["extensions"]["limit"] == "CONVERSATIONS_PER_MONTH"
    assert refused.errors[0]["extensions"]["resetsAt"]
    follow_up = await tenant.gql.op(
        "Ask", {"input": {"question": "And refunds?", "conversationId": conversation}}
    )
    assert follow_up.data["ask"]["conversation"]["id"] == conversation


async def test_generated_answers_reserve_and_meter_ai_tokens(
    generative: Stack, fake_openai: FakeOpenAI
) -> None:
    tenant = await generative.factory.tenant()
    await add_document(tenant, POLICY)
    await generative.drain()
    asked = (await tenant.gql.op("Ask", {"input": {"question": "Can I return items?"}})).data
    await generative.drain()
    answer = (await tenant.gql.op("Message", {"id": asked["ask"]["answer"]["id"]})).data
    assert answer["message"]["mode"] == "GENERATED"
    usage = (await tenant.gql.op("Usage")).data["usage"]
    assert usage["inputTokens"] > 0 and usage["outputTokens"] > 0
    assert usage["aiTokens"] == usage["inputTokens"] + usage["outputTokens"]

    # With the month's AI tokens nearly used up, the reservation is refused before the model
    # is called and the visitor is told why.
    await _set_usage(generative, tenant, "ai_tokens", 199_990, monthly=True)  # free: 200,000
    calls_before = len(fake_openai.calls("chat"))
    second = (await tenant.gql.op("Ask", {"input": {"question": "How many days do I have?"}})).data
    await generative.drain()
    failed = (await tenant.gql.op("Message", {"id": second["ask"]["answer"]["id"]})).data
    assert failed["message"]["status"] == "FAILED"
    assert len(fake_openai.calls("chat")) == calls_before


async def test_asking_draws_from_the_answers_budget(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    asked = await tenant.gql.op("Ask", {"input": {"question": "Anything?"}})
    policies = asked.headers["ratelimit-policy"]
    assert "answers" in policies, policies
    listed = await tenant.gql.op("Usage")
    assert "answers" not in listed.headers["ratelimit-policy"]
