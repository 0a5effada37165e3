"""A model endpoint that hangs: every try times out after OPENAI_TIMEOUT_S, arq retries a
bounded number of times, and the visitor gets the apology instead of waiting forever."""

import time

from app.assistant.answer import FAILED
from app.config import Settings
from tests.assistant.test_generation import POLICY, ask, message
from tests.support.ai import ai_settings, make_stack
from tests.support.knowledge import add_document
from tests.support.openai_server import FakeOpenAI, Reply


async def test_a_hanging_model_fails_the_answer_within_bounds(
    settings: Settings, fake_openai: FakeOpenAI
) -> None:
    base = ai_settings(settings, fake_openai.url, provider="openai", generation="auto")
    impatient = base.model_copy(
        update={"openai": base.openai.model_copy(update={"timeout_s": 0.5})}
    )
    async with make_stack(impatient) as stack:
        tenant = await stack.factory.tenant()
        await add_document(tenant, POLICY, "TEXT")
        await stack.drain()
        fake_openai.script("chat", *[Reply(delay_s=5.0)] * 3)
        asked = await ask(tenant, "How long do refunds take?")
        started = time.monotonic()
        await stack.drain()
        elapsed = time.monotonic() - started
        failed = await message(tenant, asked["answer"]["id"])
    assert (failed["status"], failed["content"]) == ("FAILED", FAILED)
    assert len(fake_openai.calls("chat")) == 3  # ANSWER_TRIES, then no more
    # Three 0.5 s timeouts and arq's retry delays (1 s, 2 s): about 5 s. Waiting out the
    # three 5 s hangs would take at least 15 s.
    assert elapsed < 12, elapsed
