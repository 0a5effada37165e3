"""The model endpoint failing: a circuit breaker in Redis stops calling it and answers are
composed extractively (and labelled so) until it recovers; a failing embedding endpoint
leaves keyword search."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.config import RedisSettings, Settings
from tests.support.ai import Stack, ai_settings, make_stack
from tests.support.factories import Tenant
from tests.support.knowledge import add_document
from tests.support.openai_server import FakeOpenAI, Reply

POLICY = "Refunds reach your card within five business days. Returns are free of charge."
COOLDOWN_S = 5  # longer than arq's retry delays (1 s, 2 s), so the third try sees it open


@pytest.fixture
async def guarded(settings: Settings, fake_openai: FakeOpenAI) -> AsyncIterator[Stack]:
    """A generating stack whose breaker opens after two failures, with Redis keys of its own
    (so its open breaker touches no other test)."""
    base = ai_settings(settings, fake_openai.url, provider="openai", generation="auto")
    assistant = base.assistant.model_copy(
        update={"breaker_failures": 2, "breaker_window_s": 60, "breaker_cooldown_s": COOLDOWN_S}
    )
    redis = RedisSettings(url=settings.redis.url, key_prefix=f"breaker-{uuid.uuid4().hex[:8]}:")
    async with make_stack(
        base.model_copy(update={"assistant": assistant, "redis": redis})
    ) as stack:
        yield stack
        keys = await stack.state.redis.keys(redis.key_prefix + "*")
        if keys:
            await stack.state.redis.delete(*keys)


async def answer(stack: Stack, tenant: Tenant, question: str) -> dict[str, Any]:
    """Ask, let the workers finish, and return the stored answer."""
    asked = (await tenant.gql.op("Ask", {"input": {"question": question}})).data["ask"]
    await stack.drain()
    result = await tenant.gql.op("Message", {"id": asked["answer"]["id"]})
    return result.data["message"]  # type: ignore[no-any-return]


async def test_a_failing_model_opens_the_breaker_and_answers_turn_extractive(
    guarded: Stack, fake_openai: FakeOpenAI
) -> None:
    tenant = await guarded.factory.tenant()
    await add_document(tenant, POLICY, "TEXT")
    await guarded.drain()
    fake_openai.script("chat", *[Reply(status=500)] * 10)
    # Try 1 and 2 fail and open the breaker; the retry after that does not call the model.
    first = await answer(guarded, tenant, "How long do refunds take?")
    assert (first["status"], first["mode"]) == ("COMPLETE", "EXTRACTIVE"), first
    assert "five business days" in first["content"]
    assert first["citations"], first
    assert len(fake_openai.calls("chat")) == 2
    # While it is open, nobody calls the model.
    second = await answer(guarded, tenant, "Are returns free of charge?")
    assert second["mode"] == "EXTRACTIVE"
    assert len(fake_openai.calls("chat")) == 2
    # After the cooldown one trial call goes through; it works, so the breaker closes.
    fake_openai.reset()
    await asyncio.sleep(COOLDOWN_S + 0.2)
    fake_openai.script("chat", Reply(text="Refunds take five business days [1]."))
    third = await answer(guarded, tenant, "When will my refund arrive?")
    assert (third["mode"], third["content"]) == (
        "GENERATED",
        "Refunds take five business days [1].",
    )
    fake_openai.script("chat", Reply(text="Returns are free [1]."))
    fourth = await answer(guarded, tenant, "Do returns cost anything?")
    assert fourth["mode"] == "GENERATED"
    # A degraded answer was not cached: the same first question now gets the model's answer.
    fake_openai.script("chat", Reply(text="Five business days [1]."))
    again = await answer(guarded, tenant, "How long do refunds take?")
    assert again["mode"] == "GENERATED"


async def test_a_failed_trial_opens_the_breaker_again_at_once(
    guarded: Stack, fake_openai: FakeOpenAI
) -> None:
    tenant = await guarded.factory.tenant()
    await add_document(tenant, POLICY, "TEXT")
    await guarded.drain()
    fake_openai.script("chat", *[Reply(status=503)] * 2)
    assert (await answer(guarded, tenant, "How long do refunds take?"))["mode"] == "EXTRACTIVE"
    await asyncio.sleep(COOLDOWN_S + 0.2)
    fake_openai.reset()
    fake_openai.script("chat", *[Reply(status=503)] * 5)
    trial = await answer(guarded, tenant, "Are returns free of charge?")
    # One failed trial re-opens it: the retry composes instead of calling again.
    assert trial["mode"] == "EXTRACTIVE"
    assert len(fake_openai.calls("chat")) == 1


async def test_a_failing_embedding_endpoint_leaves_keyword_search(
    guarded: Stack, fake_openai: FakeOpenAI
) -> None:
    tenant = await guarded.factory.tenant()
    await add_document(tenant, POLICY, "TEXT")
    await guarded.drain()
    before = len(fake_openai.calls("embeddings"))
    # Every try would fail: without the keyword fallback this answer could not complete.
    fake_openai.script("embeddings", *[Reply(status=502)] * 3)
    fake_openai.script("chat", Reply(text="Refunds reach your card within five days [1]."))
    result = await answer(guarded, tenant, "refunds reach card")
    assert result["status"] == "COMPLETE", result
    assert result["citations"], result  # found by its words alone
    assert "five" in result["content"]
    assert len(fake_openai.calls("embeddings")) == before + 1  # no retry kept the visitor waiting


async def test_a_model_slower_than_the_timeout_counts_as_failing(
    guarded: Stack, fake_openai: FakeOpenAI
) -> None:
    openai = guarded.settings.openai.model_copy(update={"timeout_s": 0.5})
    async with make_stack(guarded.settings.model_copy(update={"openai": openai})) as impatient:
        tenant = await impatient.factory.tenant()
        await add_document(tenant, POLICY, "TEXT")
        await impatient.drain()
        # Each reply would start after 3 s: both tries time out, which opens the breaker, and
        # the third try composes from the passages instead of waiting again.
        fake_openai.script("chat", *[Reply(text="Too late [1].", delay_s=3.0)] * 3)
        slow = await answer(impatient, tenant, "How long do refunds take?")
        assert (slow["status"], slow["mode"]) == ("COMPLETE", "EXTRACTIVE"), slow
        assert "five business days" in slow["content"]
        assert len(fake_openai.calls("chat")) == 2
