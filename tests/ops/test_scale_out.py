"""Scale-out: two API processes and two worker processes on one database and one Redis.
A document added through one API is processed by a worker and seen through the other; an
answer asked through one API streams to a subscriber on the other; and a rate limit is one
budget shared by both APIs, not one per process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.support import processes
from tests.support.factories import Factory, Tenant
from tests.support.graphql import GraphQL, operation
from tests.support.openai_server import FakeOpenAI, Reply
from tests.support.services import TestServices

pytestmark = pytest.mark.slow

ANONYMOUS_BUDGET = 20
POLICY = "Refunds reach your card within five business days. Returns are free of charge."
REPLY = "Refunds take five business days [1]. Returns are free."


@contextlib.contextmanager
def cluster(env: dict[str, str], logs: Path) -> Iterator[list[str]]:
    """Two single-process APIs on ports of their own and two workers; yields the API URLs."""
    ports = [processes.free_port(), processes.free_port()]
    children = [
        processes.start(["api", "--port", str(port)], env, logs / f"api-{port}.log")
        for port in ports
    ]
    children += [processes.start(["worker"], env, logs / f"worker-{n}.log") for n in (1, 2)]
    try:
        for port, child in zip(ports, children, strict=False):
            processes.wait_http(f"http://127.0.0.1:{port}/ready", 60, child)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for child in children:
            processes.stop(child)


async def follow(base: str, tenant: Tenant, message_id: str) -> list[dict[str, Any]]:
    """The answer's events, followed over the WebSocket of the API at `base`."""
    events = []
    url = base.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        init = {"authorization": f"Bearer {tenant.owner.token}", "workspaceId": tenant.id}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": operation("AnswerStream"), "variables": {"messageId": message_id}}
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
        async with asyncio.timeout(30):
            while (frame := orjson.loads(await ws.recv()))["type"] != "complete":
                assert frame["type"] == "next", frame
                events.append(frame["payload"]["data"]["answer"])
    return events


async def test_two_apis_and_two_workers_share_jobs_streams_and_limits(
    services: TestServices, settings: object, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    env = processes.parley_env(
        services,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=fake_openai.url,
        OPENAI_MAX_RETRIES="0",
        EMBEDDING_PROVIDER="openai",
        ASSISTANT_MIN_SIMILARITY="0.08",  # the fake server's vectors are less similar
        ASSISTANT_BREAKER_FAILURES="1000",
        RATELIMIT_ANONYMOUS_PER_WINDOW=str(ANONYMOUS_BUDGET),
    )
    fake_openai.stream_chunk_delay_s = 0.05
    fake_openai.script("chat", Reply(text=REPLY, usage=(100, 10)))
    with cluster(env, tmp_path) as (api_a, api_b):
        async with (
            httpx.AsyncClient(base_url=api_a, timeout=30) as client_a,
            httpx.AsyncClient(base_url=api_b, timeout=30) as client_b,
        ):
            tenant = await Factory(GraphQL(client_a)).tenant("Scaled")
            on_b = GraphQL(client_b).as_(tenant.owner.token, tenant.id)
            added = await tenant.gql.op(
                "AddDocument", {"input": {"content": POLICY, "format": "TEXT"}}
            )
            document = added.data["addDocument"]["id"]
            for _ in range(300):  # a worker picks it up; the other API sees the result
                seen = (await on_b.op("Document", {"id": document})).data["document"]
                if seen["status"] == "READY":
                    break
                await asyncio.sleep(0.1)
            assert seen["status"] == "READY", seen

            asked = (await tenant.gql.op("Ask", {"input": {"question": "Refund time?"}})).data
            message_id = asked["ask"]["answer"]["id"]
            events = await follow(api_b, tenant, message_id)
            kinds = [e["kind"] for e in events]
            assert kinds.count("DELTA") > 1 and kinds[-1] == "DONE", kinds
            stored = (await on_b.op("Message", {"id": message_id})).data["message"]
            assert (stored["status"], stored["content"]) == ("COMPLETE", REPLY)

            # Anonymous calls from one address, alternating between the two APIs: together
            # they get one budget. Limits kept per process would let about twice through.
            statuses: dict[str, list[int]] = {api_a: [], api_b: []}
            for n in range(3 * ANONYMOUS_BUDGET):
                client = client_a if n % 2 == 0 else client_b
                reply = await client.post("/graphql", json={"query": "{ __typename }"})
                statuses[str(client.base_url).rstrip("/")].append(reply.status_code)
    accepted = sum(s.count(200) for s in statuses.values())
    assert 0 < accepted <= ANONYMOUS_BUDGET, statuses
    assert all(429 in s for s in statuses.values()), statuses
