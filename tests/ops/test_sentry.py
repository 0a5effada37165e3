"""Sentry through the real SDK transport, received by a local stand-in for the ingest endpoint:
unexpected errors arrive tagged (workspace, operation, request id, release, environment),
expected errors never do, and no secret or personal data leaves the process."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import sentry_sdk
from prometheus_client import REGISTRY
from pydantic import SecretStr

from app.config import SentrySettings, Settings
from app.errors import NotFound, RateLimited
from app.observability.sentry import init_sentry
from app.server import create_app
from app.state import AppState
from tests.ops.conftest import raw_id
from tests.support.factories import Factory
from tests.support.graphql import GraphQL
from tests.support.sentry_server import SentryServer

TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def sentry_server() -> Iterator[SentryServer]:
    server = SentryServer().start()
    try:
        yield server
    finally:
        sentry_sdk.get_client().close(timeout=2)
        # No DSN: reporting off again for the rest of the session. No integrations either:
        # auto-enabled ones would hook into every schema the later tests build.
        sentry_sdk.init(default_integrations=False, auto_enabling_integrations=False)
        server.stop()


@asynccontextmanager
async def _client(
    server: SentryServer, settings: Settings, state: AppState, *, traces: float
) -> AsyncIterator[httpx.AsyncClient]:
    """An app instance built with Sentry on, pointing at the local server."""
    configured = settings.model_copy(
        update={
            "sentry": SentrySettings(
                dsn=SecretStr(server.dsn()),
                release="parley@1.2.3",
                environment="ci",
                traces_sample_rate=traces,
            )
        }
    )
    app = create_app(configured, state)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        yield client


@pytest.fixture
async def sentry_client(
    sentry_server: SentryServer, settings: Settings, state: AppState
) -> AsyncIterator[httpx.AsyncClient]:
    """Errors reported, no traces."""
    async with _client(sentry_server, settings, state, traces=0.0) as client:
        yield client


def test_off_without_a_dsn(settings: Settings) -> None:
    assert init_sentry(settings, "api") is False


async def test_unexpected_error_is_reported_tagged_and_scrubbed(
    sentry_server: SentryServer,
    sentry_client: httpx.AsyncClient,
    factory: Factory,
    admin_db: asyncpg.Connection,
) -> None:
    tenant = await factory.tenant("Sentry Co")
    client = GraphQL(sentry_client, tenant.owner.token, tenant.id)
    # A real fault: the application role loses its privilege on a table mid-flight.
    await admin_db.execute("REVOKE SELECT ON usage_counters FROM parley_app")
    try:
        broken = await client.op(
            "Usage",
            **{
                "x-request-id": "req-sentry-1",
                "traceparent": f"00-{TRACE}-b7ad6b7169203331-01",
                "cookie": "session=cookie-secret-value",
                "x-api-key": "header-secret-value",
            },
        )
    finally:
        await admin_db.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON usage_counters TO parley_app"
        )
    assert broken.code == "INTERNAL_SERVER_ERROR"
    sentry_sdk.flush(timeout=5)
    events = sentry_server.wait_for(lambda e: e.get("tags", {}).get("request_id") == "req-sentry-1")
    assert len(events) == 1, sentry_server.events()
    event = events[0]
    tags = event["tags"]
    assert tags["graphql.operation"] == "Usage"
    assert tags["workspace_id"] == str(raw_id(tenant.id))
    assert tags["component"] == "api"
    assert event["release"] == "parley@1.2.3"
    assert event["environment"] == "ci"
    assert event["contexts"]["trace"]["trace_id"] == TRACE
    assert "InsufficientPrivilege" in str(event["exception"])
    headers = event.get("request", {}).get("headers", {})
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered.get("authorization") in (None, "[redacted]")
    assert lowered.get("cookie") in (None, "[redacted]")
    raw = sentry_server.raw()
    for secret in (tenant.owner.token, "cookie-secret-value", "header-secret-value"):
        assert secret.encode() not in raw
    assert tenant.owner.email.encode() not in raw
    assert all("sentry_key=publickey" in e.auth for e in sentry_server.envelopes)


async def test_expected_errors_are_not_reported_and_logged_data_is_scrubbed(
    sentry_server: SentryServer, sentry_client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant("Quiet Co")
    secret_key = (
        await tenant.gql.op("CreateSecretKey", {"input": {"name": "ci", "role": "MEMBER"}})
    ).data["createSecretKey"]["key"]
    # Expected errors over HTTP: validation and authentication failures.
    anonymous = GraphQL(sentry_client)
    assert (await anonymous.op("CurrentWorkspace")).code in ("UNAUTHENTICATED", "FORBIDDEN")
    assert (
        await anonymous.op("LogIn", {"input": {"email": "x@example.com", "password": "nope"}})
    ).code == "UNAUTHENTICATED"
    # Expected errors captured or logged directly.
    sentry_sdk.capture_exception(NotFound("No such thing."))
    try:
        raise RateLimited("Slow down.")
    except RateLimited:
        logging.getLogger("parley.test").exception("rate limited")
    # An unexpected one carrying secrets and personal data in every place a log can.
    logging.getLogger("parley.test").error(
        "answer failed for %s using %s",
        "someone@example.com",
        secret_key,
        extra={
            "prompt": "What is the refund policy? PROMPT-TEXT",
            "answer": "Refunds within 30 days ANSWER-TEXT",
            "password": "hunter2hunter2",
            "webhook_body": '{"payload": "WEBHOOK-BODY"}',
            "marker": "scrub-check",
        },
    )
    sentry_sdk.flush(timeout=5)
    found = sentry_server.wait_for(lambda e: e.get("extra", {}).get("marker") == "scrub-check")
    assert len(found) == 1
    events = sentry_server.events()
    assert not [e for e in events if "NotFound" in str(e) or "RateLimited" in str(e)]
    assert not [e for e in events if "UNAUTHENTICATED" in str(e)]
    raw = sentry_server.raw()
    for secret in (
        secret_key,
        "someone@example.com",
        "PROMPT-TEXT",
        "ANSWER-TEXT",
        "hunter2hunter2",
        "WEBHOOK-BODY",
    ):
        assert secret.encode() not in raw, secret
    extra = found[0]["extra"]
    assert extra["prompt"] == extra["answer"] == extra["password"] == "[redacted]"


async def test_failing_job_is_reported_with_its_job_and_workspace(
    sentry_server: SentryServer, settings: Settings, factory: Factory
) -> None:
    """A job that fails for real (its SMTP server refuses connections), run by an arq worker
    built with Sentry on: reported once, tagged with the job and its workspace."""
    from app.config import EmailSettings
    from app.jobs import QUEUE_BULK
    from app.worker import build_workers
    from tests.support.processes import free_port

    configured = settings.model_copy(
        update={
            "sentry": SentrySettings(dsn=SecretStr(sentry_server.dsn()), environment="ci"),
            "email": EmailSettings(smtp_host="127.0.0.1", smtp_port=free_port()),
        }
    )
    assert init_sentry(configured, "worker")
    tenant = await factory.tenant("Job Co")
    invited = (
        await tenant.gql.op("InviteMember", {"input": {"email": "j@example.com", "role": "MEMBER"}})
    ).data["inviteMember"]
    workspace = str(raw_id(tenant.id))
    invitation = str(raw_id(invited["invitation"]["id"], "Invitation"))
    failures = {"function": "send_invitation_email", "outcome": "failure"}
    failed_before = REGISTRY.get_sample_value("parley_jobs_total", failures) or 0
    job_state = await AppState.create(configured)
    try:
        await job_state.queue.enqueue_job(
            "send_invitation_email",
            workspace,
            invitation,
            invited["token"],
            _queue_name=QUEUE_BULK,
            _job_id=f"sentry-job-{invitation}",
        )
        bulk = next(
            w
            for w in build_workers(configured, job_state, burst=True)
            if w.queue_name == QUEUE_BULK
        )
        bulk.max_tries = 1
        await bulk.async_run()
        await bulk.close()
    finally:
        await job_state.close()
    sentry_sdk.flush(timeout=5)
    events = sentry_server.wait_for(lambda e: e.get("tags", {}).get("job.function"))
    assert len(events) == 1, events
    tags = events[0]["tags"]
    assert tags["job.function"] == "send_invitation_email"
    assert tags["workspace_id"] == workspace
    assert tags["component"] == "worker"
    assert "ConnectionRefusedError" in str(events[0]["exception"])
    assert invited["token"].encode() not in sentry_server.raw()
    assert REGISTRY.get_sample_value("parley_jobs_total", failures) == failed_before + 1
    durations = {"function": failures["function"]}
    assert (REGISTRY.get_sample_value("parley_job_duration_seconds_count", durations) or 0) >= 1


async def test_reads_on_the_driver_appear_as_database_spans(
    sentry_server: SentryServer, settings: Settings, state: AppState, factory: Factory
) -> None:
    """The dashboard's hottest reads skip SQLAlchemy (app/db/raw.py); the asyncpg integration
    still records them, so a traced request shows every statement it ran."""
    tenant = await factory.tenant("Traced Co")
    async with _client(sentry_server, settings, state, traces=1.0) as traced:
        client = GraphQL(traced, tenant.owner.token, tenant.id)
        assert (await client.op("DocumentPage")).data["documents"]["edges"] == []
    sentry_sdk.flush(timeout=5)

    def statements(transaction: dict[str, Any]) -> list[str]:
        return [s.get("description", "") for s in transaction.get("spans", []) if s["op"] == "db"]

    traced = sentry_server.wait_for(
        lambda t: any("FROM documents" in d for d in statements(t)), item_type="transaction"
    )
    assert len(traced) == 1, sentry_server.payloads("transaction")
    ran = statements(traced[0])
    assert any("authenticate_user" in d for d in ran), ran  # through SQLAlchemy
