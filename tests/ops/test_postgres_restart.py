"""PostgreSQL restarted under load, behind one running `parley api`: while it is down every
request is answered 503 UNAVAILABLE with a short message (no stack trace) and /ready says
not ready; afterwards the same process serves again on its own (its pool reconnects), and no
half-written mutation remains: every stored document has its source and its ingestion job.

The test owns its PostgreSQL cluster (in a temporary directory, migrated like the session's)
and its Redis, so nothing shared is stopped and the jobs it leaves go nowhere else.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from app.config import DatabaseSettings
from app.db.bootstrap import migrate
from app.db.engine import asyncpg_dsn
from app.devstack.postgres import LocalPostgres
from app.devstack.redis import LocalRedis
from tests.support import processes
from tests.support.factories import Factory, Tenant
from tests.support.graphql import GraphQL
from tests.support.knowledge import row_id
from tests.support.services import DATABASE

pytestmark = pytest.mark.slow

CLIENTS = 4
DOWN_S = 4.0
KILL_S = 2.0
MAX_DOCUMENTS = 40  # the free plan's document quota is 50


@dataclass
class Own:
    """The test's own PostgreSQL and Redis."""

    pg: LocalPostgres
    redis: LocalRedis

    @property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings(
            url=self.pg.url("parley_app", DATABASE), admin_url=self.pg.url("postgres", DATABASE)
        )


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Own]:
    pg = LocalPostgres(tmp_path / "pg", conf={"fsync": "off", "full_page_writes": "off"})
    pg.start()
    redis = LocalRedis()
    redis.start()
    try:
        made = Own(pg, redis)
        migrate(made.database)
        yield made
    finally:
        redis.stop()
        pg.destroy()


@dataclass
class Call:
    """One request of the load and how it ended."""

    at: float
    kind: str
    status: int
    code: str | None
    body: str
    document: str | None = None


async def load(tenant: Tenant, stop: asyncio.Event, calls: list[Call], client: int) -> None:
    """Alternate a multi-row mutation (a document: its row, its source, usage and its job)
    with a read, until told to stop."""
    n = 0
    while not stop.is_set():
        n += 1
        stored = sum(1 for c in calls if c.document)
        if n % 2 and stored < MAX_DOCUMENTS:
            content = f"Client {client} note {n}: item {uuid.uuid4()} restocks on Monday."
            variables: dict[str, Any] = {"input": {"content": content, "format": "TEXT"}}
            kind, result = "add", await tenant.gql.op("AddDocument", variables)
        else:
            kind, result = "list", await tenant.gql.op("Documents", {"first": 5})
        errors = result.body.get("errors") or []
        code = errors[0].get("extensions", {}).get("code") if errors else None
        added = (result.body.get("data") or {}).get("addDocument") if kind == "add" else None
        calls.append(
            Call(
                time.monotonic(),
                kind,
                result.status,
                code,
                str(result.body),
                added["id"] if added else None,
            )
        )
        await asyncio.sleep(0.05)


async def kill_backends(own: Own, seconds: float) -> int:
    """Terminate the application's connections every 50 ms for `seconds`, so some die in
    the middle of a resolver's statements; returns how many were terminated."""
    conn = await asyncpg.connect(asyncpg_dsn(own.database.admin_url))
    killed = 0
    try:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            killed += int(
                await conn.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE usename = 'parley_app'"
                )
            )
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return killed


async def stored(own: Own, workspace: str) -> list[asyncpg.Record]:
    """Every document of the workspace with what the same transaction wrote beside it."""
    conn = await asyncpg.connect(asyncpg_dsn(own.database.admin_url))
    try:
        return list(
            await conn.fetch(
                """SELECT d.id, d.revision,
                          (SELECT count(*) FROM document_sources s
                            WHERE s.workspace_id = d.workspace_id AND s.document_id = d.id
                              AND s.revision = d.revision) AS sources,
                          (SELECT count(*) FROM job_outbox o
                            WHERE o.workspace_id = d.workspace_id
                              AND o.job_id = 'ingest:' || d.id || ':' || d.revision) AS waiting
                   FROM documents d WHERE d.workspace_id = $1""",
                row_id(workspace),
            )
        )
    finally:
        await conn.close()


async def test_requests_get_503_while_postgres_restarts_and_the_pool_recovers(
    services: Any, own: Own, tmp_path: Path
) -> None:
    env = processes.parley_env(
        services,
        DATABASE_URL=own.database.url,
        DATABASE_ADMIN_URL=own.database.admin_url,
        REDIS_URL=own.redis.url,
        **{f"RATELIMIT_{k}_PER_WINDOW": "100000" for k in ("API", "USER", "ANONYMOUS")},
    )
    port = processes.free_port()
    api = processes.start(["api", "--port", str(port)], env, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    calls: list[Call] = []
    ready: list[tuple[float, int]] = []
    try:
        processes.wait_http(f"{base}/ready", 60, api)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            tenant = await Factory(GraphQL(client)).tenant("Restart")
            stop = asyncio.Event()
            loads = [asyncio.create_task(load(tenant, stop, calls, i)) for i in range(CLIENTS)]
            await asyncio.sleep(2)
            kills = await kill_backends(own, KILL_S)
            killed_at = time.monotonic()
            own.pg.stop("fast")
            assert not own.pg.running()
            down_at = time.monotonic()
            while time.monotonic() - down_at < DOWN_S:
                ready.append((time.monotonic(), (await client.get("/ready")).status_code))
                await asyncio.sleep(0.5)
            own.pg.start()
            up_at = time.monotonic()
            await asyncio.sleep(6)
            stop.set()
            await asyncio.gather(*loads)
            ready.append((time.monotonic(), (await client.get("/ready")).status_code))
        pid_alive = api.poll() is None
    finally:
        processes.stop(api)
    rows = await stored(own, tenant.id)
    redis = aioredis.Redis.from_url(own.redis.url)
    try:
        queued = {k.decode() for k in await redis.keys("arq:job:ingest:*")}
    finally:
        await redis.aclose()

    killing = [c for c in calls if killed_at - KILL_S < c.at < killed_at]
    during = [c for c in calls if down_at + 0.5 < c.at < up_at]
    after = [c for c in calls if c.at > up_at]
    first_ok = min((c.at for c in after if c.status == 200), default=float("inf"))
    failed_after = [c for c in after if c.status != 200]
    log = (tmp_path / "api.log").read_text()
    print(
        f"\nconnections killed {kills} times in {KILL_S:.0f}s: {len(killing)} requests, "
        f"{sum(c.status == 503 for c in killing)} answered 503, "
        f"{sum(c.status == 200 for c in killing)} answered 200"
        f"\npostgres down {DOWN_S:.0f}s under {CLIENTS} clients: {len(calls)} requests, "
        f"{sum(c.status == 503 for c in calls)} answered 503 "
        f"({len(during)} while down, {len(failed_after)} after the restart), "
        f"{sum(c.status == 200 for c in calls)} answered 200, other statuses "
        f"{sorted({c.status for c in calls} - {200, 503})}; first 200 "
        f"{first_ok - up_at:.2f}s after PostgreSQL accepted connections; /ready "
        f"{[s for _, s in ready]}; {len(rows)} documents stored, "
        f"{sum(1 for c in calls if c.document)} acknowledged; tracebacks in the log: "
        f"{log.count('Traceback')}"
    )
    assert pid_alive  # the same process served before, during and after
    # Whether a connection dies before the resolver or under it, the caller gets 503
    # UNAVAILABLE, never a masked INTERNAL_SERVER_ERROR.
    assert {c.status for c in calls} <= {200, 503}
    assert {c.code for c in calls} <= {None, "UNAVAILABLE"}, [
        c.body for c in calls if c.code not in (None, "UNAVAILABLE")
    ][:3]
    assert kills > 0 and any(c.status == 503 for c in killing)
    assert during and all(c.status == 503 and c.code == "UNAVAILABLE" for c in during)
    assert all("Traceback" not in c.body and len(c.body) < 400 for c in calls if c.status == 503)
    assert first_ok - up_at < 5  # the pool reconnects by itself
    assert after[-CLIENTS:] and all(c.status == 200 for c in after[-CLIENTS:])
    assert [s for t, s in ready if down_at < t < up_at] and all(
        s == 503 for t, s in ready if down_at < t < up_at
    )
    assert ready[-1][1] == 200
    # All or nothing: each stored document has its source and its job, in the outbox or in
    # Redis; each acknowledged one is stored.
    acknowledged = {row_id(c.document) for c in calls if c.document}
    assert acknowledged <= {r["id"] for r in rows}
    for row in rows:
        job = f"arq:job:ingest:{row['id']}:{row['revision']}"
        assert row["sources"] == 1, row
        assert row["waiting"] == 1 or job in queued, row
