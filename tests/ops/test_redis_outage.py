"""Redis stopped for a while under a running `parley api` and `parley worker`, while
documents are added and uploaded: reads and writes go on (the local rate limit), every
document the API accepted is kept in the job outbox, and once Redis is back every accepted
document ends READY, with neither process restarted. Nothing is lost and nothing is refused
without a clear error.

The outage lasts OUTAGE_S seconds rather than the issue's 30: what matters is that requests
during it hit a dead Redis and that the system converges after it without help; a longer
outage only adds more of the same requests and makes the suite slower (each test should stay
under about a minute). The test owns its redis-server (restarted on the same port, with its
append-only file), so the session's shared Redis is never stopped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.db.engine import asyncpg_dsn
from app.devstack.redis import LocalRedis
from tests.support import processes
from tests.support.factories import Factory, Tenant
from tests.support.graphql import GraphQL, Result
from tests.support.knowledge import row_id, upload
from tests.support.openai_server import FakeOpenAI
from tests.support.services import TestServices

pytestmark = pytest.mark.slow

OUTAGE_S = 8.0


async def waiting_jobs(services: TestServices, workspace: str) -> int:
    """Rows of the workspace in the job outbox (read as the admin, past RLS)."""
    conn = await asyncpg.connect(asyncpg_dsn(services.admin_url))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM job_outbox WHERE workspace_id = $1", row_id(workspace)
            )
        )
    finally:
        await conn.close()


async def add(tenant: Tenant, n: int) -> Result:
    """Add document number `n`: inline text for even numbers, a file upload for odd ones."""
    content = f"Outage note {n}: parcel {uuid.uuid4()} ships within {n} days."
    if n % 2:
        return await upload(tenant, f"note-{n}.txt", content.encode(), "text/plain")
    return await tenant.gql.op("AddDocument", {"input": {"content": content, "format": "TEXT"}})


def document_id(result: Result) -> str | None:
    """The new document's id, or None when the API refused (asserting it said why)."""
    data = result.body.get("data") or {}
    payload = data.get("addDocument") or data.get("uploadDocument")
    if payload:
        return str(payload["id"])
    codes = [e.get("extensions", {}).get("code") for e in result.body.get("errors", [])]
    assert result.status in (429, 503) and codes and None not in codes, result.body
    return None


async def wait_ready(tenant: Tenant, ids: list[str], limit_s: float) -> dict[str, str]:
    """Poll until every document is READY or `limit_s` passed; returns the last statuses."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for doc in ids:
            if seen.get(doc) != "READY":
                got = await tenant.gql.op("Document", {"id": doc})
                seen[doc] = got.data["document"]["status"]
        if all(status == "READY" for status in seen.values()):
            break
        await asyncio.sleep(0.2)
    return seen


async def test_documents_added_while_redis_is_down_end_ready_after_it_returns(
    services: TestServices, settings: object, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    redis = LocalRedis(datadir=tmp_path / "redis")
    redis.start()
    env = processes.parley_env(
        services,
        REDIS_URL=redis.url,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=fake_openai.url,
        OPENAI_MAX_RETRIES="0",
        EMBEDDING_PROVIDER="openai",
        WORKER_BULK_POLL_DELAY_S="0.1",
        OUTBOX_RELAY_GRACE_S="1",
        RATELIMIT_REDIS_RETRY_S="0.5",
        **{f"RATELIMIT_{k}_PER_WINDOW": "100000" for k in ("API", "USER", "ANONYMOUS")},
    )
    port = processes.free_port()
    api = processes.start(["api", "--port", str(port)], env, tmp_path / "api.log")
    worker = processes.start(["worker", "--queue", "bulk"], env, tmp_path / "worker.log")
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(f"{base}/ready", 60, api)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            tenant = await Factory(GraphQL(client)).tenant("Outage")
            accepted: list[str] = []
            refused: list[tuple[int, Any]] = []
            before = document_id(await add(tenant, 0))
            assert before is not None
            accepted.append(before)
            # Ready before the outage: a job that Redis dies under while a worker is taking
            # it waits for arq's lease (WORKER_JOB_TIMEOUT_S + 10 s), as after a crash.
            assert (await wait_ready(tenant, [before], 30))[before] == "READY"

            redis.stop()
            down_at = time.monotonic()
            n, reads, ready_probes = 1, 0, []
            while time.monotonic() - down_at < OUTAGE_S:
                result = await add(tenant, n)
                n += 1
                doc = document_id(result)
                if doc is None:
                    refused.append((result.status, result.body["errors"][0]))
                else:
                    accepted.append(doc)
                listed = await tenant.gql.op("Documents", {"first": 100})
                reads += listed.status == 200 and bool(listed.data["documents"]["edges"])
                ready_probes.append((await client.get("/ready")).status_code)
                await asyncio.sleep(0.2)
            in_outbox = await waiting_jobs(services, tenant.id)

            redis.start()
            up_at = time.monotonic()
            seen = await wait_ready(tenant, accepted, 40)
            all_ready_s = time.monotonic() - up_at
            left = await waiting_jobs(services, tenant.id)
    finally:
        alive = (api.poll(), worker.poll())
        processes.stop(api)
        processes.stop(worker)
        redis.stop()
    logs = (tmp_path / "worker.log").read_text()[-3000:]
    print(
        f"\nredis outage {OUTAGE_S:.0f}s: {n - 1} documents sent, {len(accepted) - 1} accepted, "
        f"{len(refused)} refused {refused[:3]}, {reads} list reads served, "
        f"/ready {sorted(set(ready_probes))}, {in_outbox} jobs in the outbox at the end of "
        f"the outage, all READY {all_ready_s:.1f}s after Redis returned"
    )
    assert alive == (None, None), logs  # neither process died nor was restarted
    assert len(accepted) > 1 and in_outbox > 0  # the outage really held jobs back
    assert reads == n - 1  # every read during the outage was served
    assert set(ready_probes) == {503}  # and /ready told the load balancer
    assert all(s == "READY" for s in seen.values()), (seen, logs)
    assert left == 0
