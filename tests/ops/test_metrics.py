"""/metrics exposes every named series, and the events that exist today move them."""

from __future__ import annotations

import re

import httpx
import pytest
from pydantic import SecretStr

from app.config import MetricsSettings, Settings
from app.observability import metrics
from app.server import create_app
from app.state import AppState
from tests.support.factories import PASSWORD, Factory
from tests.support.graphql import GraphQL

SERIES = [
    "parley_http_requests_total",
    "parley_graphql_operations_total",
    "parley_graphql_operation_duration_seconds",
    "parley_graphql_errors_total",
    "parley_db_pool_checked_out",
    "parley_db_pool_size",
    "parley_db_pool_overflow",
    "parley_db_routes_total",
    "parley_db_unavailable_total",
    "parley_queue_depth",
    "parley_outbox_depth",
    "parley_outbox_jobs_total",
    "parley_jobs_total",
    "parley_job_duration_seconds",
    "parley_jobs_in_progress",
    "parley_rate_limit_refusals_total",
    "parley_cache_lookups_total",
    "parley_model_requests_total",
    "parley_model_request_duration_seconds",
    "parley_model_tokens_total",
    "parley_webhook_events_total",
    "parley_failed_logins_total",
    "parley_cross_tenant_refusals_total",
    "parley_webhook_signature_invalid_total",
    "parley_origin_refusals_total",
]


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in exposition text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (.+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return 0.0


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_every_named_series_is_exposed(http: httpx.AsyncClient) -> None:
    text = await scrape(http)
    missing = [name for name in SERIES if f"# HELP {name.removesuffix('_total')}" not in text]
    assert not missing, missing


async def test_graphql_operations_errors_and_security_counters_move(
    http: httpx.AsyncClient, factory: Factory, gql: GraphQL
) -> None:
    before = await scrape(http)
    tenant = await factory.tenant("Metrics Co")
    other = await factory.tenant("Other Co")
    assert (await tenant.gql.op("CurrentWorkspace")).data
    bad_login = await gql.op(
        "LogIn", {"input": {"email": tenant.owner.email, "password": PASSWORD + "x"}}
    )
    assert bad_login.code == "UNAUTHENTICATED"
    refused = await gql.as_(tenant.owner.token, other.id).op("CurrentWorkspace")
    assert refused.code == "FORBIDDEN"
    after = await scrape(http)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert (
        delta(
            "parley_graphql_operations_total",
            operation="CurrentWorkspace",
            type="query",
            outcome="ok",
        )
        == 1
    )
    assert (
        delta(
            "parley_graphql_operations_total", operation="LogIn", type="mutation", outcome="error"
        )
        == 1
    )
    assert (
        delta(
            "parley_graphql_operations_total",
            operation="CurrentWorkspace",
            type="query",
            outcome="rejected",
        )
        == 1
    )
    assert delta("parley_graphql_errors_total", code="UNAUTHENTICATED") >= 1
    assert delta("parley_graphql_errors_total", code="FORBIDDEN") >= 1
    assert delta("parley_failed_logins_total") == 1
    assert delta("parley_cross_tenant_refusals_total", credential="user") == 1
    assert delta("parley_http_requests_total", method="POST", path="graphql", status="200") >= 4
    assert (
        delta(
            "parley_graphql_operation_duration_seconds_count",
            operation="CurrentWorkspace",
            type="query",
        )
        == 2
    )
    assert sample(after, "parley_db_pool_size", pool="primary") == 5
    assert sample(after, "parley_queue_depth", queue="arq:interactive") >= 0


async def test_refused_origin_is_counted(http: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant("Widget Co")
    created = await tenant.gql.op(
        "CreatePublishableKey",
        {"input": {"name": "site", "allowedOrigins": ["https://shop.example.com"]}},
    )
    key = created.data["createPublishableKey"]["key"]
    before = sample(await scrape(http), "parley_origin_refusals_total")
    refused = await tenant.gql.as_(key).op("CurrentWorkspace", origin="https://evil.example.net")
    assert refused.code == "FORBIDDEN"
    assert sample(await scrape(http), "parley_origin_refusals_total") == before + 1


async def test_client_chosen_operation_names_are_bounded() -> None:
    label = metrics.BoundedLabel(3)
    assert [label(n) for n in ("A", "B", "C", "D", "A")] == ["A", "B", "C", "other", "A"]
    assert label(None) == "anonymous"
    assert label("x" * 65) == "other"
    assert label("drop table;") == "other"


@pytest.mark.parametrize(
    ("path", "label"),
    [("/graphql", "graphql"), ("/health", "health"), ("/random/x", "other"), ("/", "other")],
)
def test_paths_are_bounded(path: str, label: str) -> None:
    assert metrics.path_label(path) == label


async def test_metrics_token_protects_the_endpoint(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"metrics": MetricsSettings(token=SecretStr("scrape-secret"))}
    )
    state = await AppState.create(configured, with_queue=False)
    app = create_app(configured, state)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get("/metrics", headers={"authorization": "Bearer scrape-secret"})
        assert right.status_code == 200 and "parley_http_requests_total" in right.text
    await state.close()


async def test_pool_gauges_follow_checkouts_and_checkins(settings: Settings) -> None:
    """The checked-out gauge is exact after every checkout and checkin, including the last
    checkin of a burst (SQLAlchemy announces a checkin before the pool counts it back)."""
    from prometheus_client import REGISTRY, generate_latest

    from app.db.engine import create_engine

    engine = create_engine(settings.database, pool_size=2, max_overflow=1)
    metrics.instrument_engine(engine, "gauge-test")

    def gauges() -> tuple[float, float, float]:
        text = generate_latest(REGISTRY).decode()
        return (
            sample(text, "parley_db_pool_checked_out", pool="gauge-test"),
            sample(text, "parley_db_pool_size", pool="gauge-test"),
            sample(text, "parley_db_pool_overflow", pool="gauge-test"),
        )

    try:
        first = await engine.connect()
        second = await engine.connect()
        third = await engine.connect()
        assert gauges() == (3, 2, 1)  # one connection beyond the pool's size
        await third.close()
        assert gauges() == (2, 2, 1)  # kept: the pool had room
        await second.close()
        await first.close()  # the pool is full: this one is closed
        assert gauges()[0] == 0
        again = await engine.connect()
        assert gauges() == (1, 2, 0)
        await again.close()
        assert gauges() == (0, 2, 0)
    finally:
        await engine.dispose()
