"""A worker SIGKILLed in the middle of streaming an answer: after a restart the job runs again,
the visitor's stream is told to start over and gets the whole answer once, and the answer's
tokens are metered once. The worker is a real `parley worker` subprocess."""

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from tests.assistant.test_generation import POLICY, ask, message
from tests.knowledge.test_worker_crash import start_worker
from tests.support import services as test_services
from tests.support.ai import FAKE_MIN_SIMILARITY, Stack, serve, services_env
from tests.support.graphql import operation
from tests.support.knowledge import add_document
from tests.support.openai_server import FakeOpenAI, Reply

pytestmark = pytest.mark.slow


async def follow(ws: Any, events: list[dict[str, Any]]) -> None:
    """Collect the answer's stream events until the server completes the subscription."""
    while True:
        frame = orjson.loads(await ws.recv())
        if frame["type"] == "complete":
            return
        assert frame["type"] == "next", frame
        events.append(frame["payload"]["data"]["answer"])


async def test_a_worker_killed_mid_answer_delivers_it_once(
    generative: Stack, fake_openai: FakeOpenAI, services: test_services.TestServices, tmp_path: Path
) -> None:
    tenant = await generative.factory.tenant()
    await add_document(tenant, POLICY, "TEXT")
    await generative.drain()
    reply = "Refunds reach your card within five business days [1]. Returns are free."
    fake_openai.script(
        "chat", Reply(text=reply, usage=(300, 20)), Reply(text=reply, usage=(300, 20))
    )
    fake_openai.stream_chunk_delay_s = 0.4  # slow enough for the kill to land mid-stream
    env = {
        **services_env(services, generative.settings, fake_openai.url),
        "OPENAI_CHAT_MODEL": "gpt-test",
        "ASSISTANT_GENERATION": "auto",
        "ASSISTANT_MIN_SIMILARITY": str(FAKE_MIN_SIMILARITY),
        "WORKER_INTERACTIVE_JOB_TIMEOUT_S": "6",  # a dead worker's job is retried after 6 + 10 s
    }
    log = tmp_path / "worker.log"
    asked = await ask(tenant, "How long do refunds take?")
    answer_id = asked["answer"]["id"]
    events: list[dict[str, Any]] = []
    async with (
        serve(generative) as address,
        connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        init = {"authorization": f"Bearer {tenant.owner.token}", "workspaceId": tenant.id}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": operation("AnswerStream"), "variables": {"messageId": answer_id}}
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
        following = asyncio.create_task(follow(ws, events))
        worker = start_worker(env, log, queue="interactive")
        try:
            for _ in range(600):  # up to 30 s for the first piece of text
                if any(e["kind"] == "DELTA" for e in events):
                    break
                await asyncio.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            assert (await message(tenant, answer_id))["status"] == "STREAMING"
            fake_openai.stream_chunk_delay_s = 0.01
            worker = start_worker(env, log, queue="interactive")
            async with asyncio.timeout(60):
                await following
        finally:
            following.cancel()
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
    kinds = [e["kind"] for e in events]
    assert "RESET" in kinds and kinds[-1] == "DONE" and kinds.count("DONE") == 1, kinds
    after_reset = events[len(kinds) - 1 - kinds[::-1].index("RESET") + 1 : -1]
    assert "".join(e["text"] for e in after_reset) == reply
    final = await message(tenant, answer_id)
    assert (final["status"], final["mode"], final["content"]) == ("COMPLETE", "GENERATED", reply)
    assert len(fake_openai.calls("chat")) == 2  # the killed try and the retry
    usage = (await tenant.gql.op("Usage")).data["usage"]
    assert (usage["inputTokens"], usage["outputTokens"]) == (300, 20)  # metered once
