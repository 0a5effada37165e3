"""A worker SIGKILLed while it streams an answer: the question is not lost. arq hands the job
to the restarted worker once the dead one's lease runs out; the answer starts over (the
stream is reset), is stored once, complete, and followers read exactly the final text."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from app.assistant.stream import text_key
from tests.knowledge.test_worker_crash import start_worker
from tests.support import services as test_services
from tests.support.ai import FAKE_MIN_SIMILARITY, Stack, services_env
from tests.support.knowledge import add_document, row_id
from tests.support.openai_server import FakeOpenAI, Reply

pytestmark = pytest.mark.slow

POLICY = "Refunds reach your card within five business days. Returns are free."
REPLY = "Refunds reach your card within five business days [1]. Returns are free of charge."


async def test_killed_worker_mid_answer_answers_once_after_restart(
    generative: Stack, fake_openai: FakeOpenAI, services: test_services.TestServices, tmp_path: Path
) -> None:
    tenant = await generative.factory.tenant()
    await add_document(tenant, POLICY, "TEXT")
    await generative.drain()
    env = {
        **services_env(services, generative.settings, fake_openai.url),
        "OPENAI_CHAT_MODEL": "gpt-test",
        "ASSISTANT_MIN_SIMILARITY": str(FAKE_MIN_SIMILARITY),
        "ASSISTANT_BREAKER_FAILURES": "1000",
        "WORKER_JOB_TIMEOUT_S": "3",  # a dead worker's job is picked up again after 3 + 10 s
        "WORKER_INTERACTIVE_POLL_DELAY_S": "0.05",
    }
    fake_openai.stream_chunk_delay_s = 0.4  # slow deltas, so the kill lands mid-stream
    fake_openai.script("chat", Reply(text=REPLY), Reply(text=REPLY))
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, queue="interactive")
    try:
        asked = (await tenant.gql.op("Ask", {"input": {"question": "Refund time?"}})).data["ask"]
        message_id = asked["answer"]["id"]
        key = text_key(generative.settings.redis.key_prefix, row_id(message_id))
        for _ in range(300):
            partial = await generative.state.redis.get(key)
            if partial:
                break
            await asyncio.sleep(0.05)
        assert partial and partial.decode() != REPLY, log.read_text()[-2000:]
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        pending = (await tenant.gql.op("Message", {"id": message_id})).data["message"]
        assert pending["status"] == "STREAMING"  # started, never finished

        fake_openai.stream_chunk_delay_s = 0.0
        worker = start_worker(env, log, queue="interactive")
        for _ in range(400):
            stored = (await tenant.gql.op("Message", {"id": message_id})).data["message"]
            if stored["status"] not in ("PENDING", "STREAMING"):
                break
            await asyncio.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(15)
    assert (stored["status"], stored["content"]) == ("COMPLETE", REPLY), log.read_text()[-3000:]
    assert len(fake_openai.calls("chat")) == 2  # the interrupted try and the one that finished
    streamed = await generative.state.redis.get(key)
    assert streamed is not None and streamed.decode() == REPLY  # no text shown twice
