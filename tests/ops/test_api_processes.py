"""The API as a real uvicorn process: SIGTERM during a slow request lets it finish (and
commit) while new connections are refused; with several processes, /metrics adds up all of
them (Prometheus multi-process mode)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.ops.conftest import raw_id
from tests.ops.test_metrics import sample
from tests.support import processes
from tests.support.factories import Factory
from tests.support.services import TestServices as RunningServices

pytestmark = pytest.mark.slow


async def wait_for_lock_waiter(admin: asyncpg.Connection) -> None:
    """Until some session of the application waits on a lock (20 s at most)."""
    for _ in range(400):
        waiting = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'parley' AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the request never blocked on the lock")


async def test_sigterm_during_a_slow_request_finishes_it(
    services: RunningServices, factory: Factory, admin_db: asyncpg.Connection, tmp_path: Path
) -> None:
    tenant = await factory.tenant("Slow Co")
    workspace = raw_id(tenant.id)
    port = processes.free_port()
    env = processes.parley_env(services, API_SHUTDOWN_TIMEOUT_S="20")
    api = processes.start(["api", "--port", str(port)], env, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(processes.wait_http, f"{base}/ready", 60, api)
        # Hold the workspace row so the rename below blocks inside its transaction.
        blocker = await asyncpg.connect(
            services.admin_url.replace("postgresql+asyncpg", "postgresql")
        )
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE", workspace)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            rename = asyncio.create_task(
                client.post(
                    "/graphql",
                    json={
                        "query": "mutation R($n: String!) { renameWorkspace(name: $n) { name } }",
                        "variables": {"n": "Renamed During Shutdown"},
                    },
                    headers={
                        "authorization": f"Bearer {tenant.owner.token}",
                        "x-workspace-id": tenant.id,
                    },
                )
            )
            await wait_for_lock_waiter(admin_db)
            api.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.0)
            # Shutting down: no new connections are taken...
            with pytest.raises(httpx.ConnectError):
                await httpx.AsyncClient(base_url=base).get("/health")
            assert api.poll() is None  # ...but the process waits for the request in flight.
            await transaction.rollback()
            await blocker.close()
            response = await rename
        assert response.status_code == 200
        assert response.json()["data"]["renameWorkspace"]["name"] == "Renamed During Shutdown"
        # uvicorn re-raises SIGTERM on itself once it has shut down cleanly.
        assert await asyncio.to_thread(api.wait, 30) in (0, -signal.SIGTERM)
    finally:
        processes.stop(api)
    assert "Application shutdown complete" in (tmp_path / "api.log").read_text()
    name = await admin_db.fetchval("SELECT name FROM workspaces WHERE id = $1", workspace)
    assert name == "Renamed During Shutdown"


async def test_metrics_add_up_across_api_processes(
    services: RunningServices, tmp_path: Path
) -> None:
    port = processes.free_port()
    env = processes.parley_env(services)
    api = processes.start(["api", "--port", str(port), "--workers", "2"], env, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(processes.wait_http, f"{base}/health", 60, api)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            before = sample(
                (await client.get("/metrics")).text,
                "parley_http_requests_total",
                method="GET",
                path="ready",
                status="200",
            )
            for _ in range(12):
                # A fresh connection each time, so both processes get requests.
                async with httpx.AsyncClient(base_url=base, timeout=30) as fresh:
                    assert (await fresh.get("/ready")).status_code == 200
            scrapes = []
            for _ in range(4):
                async with httpx.AsyncClient(base_url=base, timeout=30) as fresh:
                    text = (await fresh.get("/metrics")).text
                scrapes.append(
                    sample(
                        text, "parley_http_requests_total", method="GET", path="ready", status="200"
                    )
                )
        # Whichever process answered, the total counts all twelve.
        assert all(value - before == 12 for value in scrapes), (before, scrapes)
        pids = {p.name for p in (services.root / "data").glob("prometheus-*")}
        assert pids, "multi-process mode was not switched on"
    finally:
        assert processes.stop(api) in (0, -signal.SIGTERM)
