"""The operations verbs of the `parley` command, run through click with the environment an
operator would set. (Each verb runs its own event loop, so it is invoked from a thread.)"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner, Result

from app.cli import main
from app.config import get_settings
from app.jobs import QUEUE_BULK
from app.state import AppState
from tests.ops.conftest import raw_id
from tests.support import processes
from tests.support.factories import Factory, Tenant
from tests.support.graphql import GraphQL
from tests.support.services import TestServices as RunningServices


@pytest.fixture
def cli(services: RunningServices, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose `parley` reads the test services from the environment."""
    for name, value in processes.parley_env(services, PARLEY_LOG_JSON="false").items():
        if name.split("_")[0] in ("DATABASE", "REDIS", "AUTH", "PARLEY", "METRICS"):
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def run(cli: CliRunner, *args: str) -> Result:
    return await asyncio.to_thread(cli.invoke, main, list(args))


@pytest.fixture
async def tenant_with_usage(factory: Factory, admin_db: asyncpg.Connection) -> Tenant:
    tenant = await factory.tenant("Usage Co")
    await admin_db.execute(
        "INSERT INTO usage_counters (workspace_id, metric, period_start, value) "
        "VALUES ($1, 'messages', date_trunc('month', now())::date, 7)",
        raw_id(tenant.id),
    )
    return tenant


async def test_queue_status(cli: CliRunner, state: AppState) -> None:
    job_id = f"cli-status-{uuid.uuid4().hex[:8]}"
    await state.queue.enqueue_job(
        "send_invitation_email",
        "x",
        "y",
        "z",
        _queue_name=QUEUE_BULK,
        _job_id=job_id,
        _defer_by=3600,
    )
    try:
        result = await run(cli, "queue", "status")
    finally:  # a deferred job left behind would keep burst workers of other tests waiting
        await state.queue.zrem(QUEUE_BULK, job_id)
        await state.queue.delete(f"arq:job:{job_id}")
    assert result.exit_code == 0, result.output
    bulk = next(line for line in result.output.splitlines() if line.startswith("arq:bulk "))
    assert int(bulk.split()[2]) >= 1  # the deferred job
    assert "running now:" in result.output


async def test_usage_export_of_one_workspace_and_of_all(
    cli: CliRunner, tenant_with_usage: Tenant, factory: Factory, tmp_path: Path
) -> None:
    other = await factory.tenant("No Usage Co")
    one = await run(cli, "usage", "export", "--slug", tenant_with_usage.slug)
    assert one.exit_code == 0, one.output
    rows = list(csv.DictReader(io.StringIO(one.stdout)))
    workspace = str(raw_id(tenant_with_usage.id))
    assert {r["workspace_id"] for r in rows} == {workspace}
    assert {"workspace_id", "period_start", "metric", "value"} == set(rows[0])
    assert next(r for r in rows if r["metric"] == "messages")["value"] == "7"

    target = tmp_path / "usage.csv"
    everything = await run(cli, "usage", "export", "--output", str(target))
    assert everything.exit_code == 0, everything.output
    exported = list(csv.DictReader(target.open()))
    ids = {r["workspace_id"] for r in exported}
    assert {workspace, str(raw_id(other.id))} <= ids
    assert "exported usage of" in everything.output

    bad = await run(cli, "usage", "export", "--month", "November")
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output
    missing = await run(cli, "usage", "export", "--slug", "no-such-workspace-slug")
    assert missing.exit_code != 0


async def test_security_events_lists_failed_log_ins(
    cli: CliRunner, gql: GraphQL, factory: Factory
) -> None:
    account = await factory.account("cli-victim")
    failed = await gql.op(
        "LogIn",
        {"input": {"email": account.email, "password": "wrong-password"}},
        **{"x-request-id": "req-cli-events"},
    )
    assert failed.code == "UNAUTHENTICATED"
    result = await run(cli, "security-events", "--kind", "login_failed", "--hours", "1")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if "req-cli-events" in x)
    assert "login_failed" in line and str(raw_id(account.user_id, "User")) in line


@pytest.fixture
def answering_server() -> Iterator[str]:
    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_healthcheck(cli: CliRunner, answering_server: str) -> None:
    assert (await run(cli, "healthcheck", "--url", answering_server + "/health")).exit_code == 0
    unhealthy = await run(cli, "healthcheck", "--url", answering_server + "/other")
    assert unhealthy.exit_code == 1
    closed = f"http://127.0.0.1:{processes.free_port()}/health"
    refused = await run(cli, "healthcheck", "--url", closed)
    assert refused.exit_code == 1 and "unhealthy" in refused.output
