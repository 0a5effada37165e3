"""Every Prometheus series Parley exposes, and one small function per event to record.

Other modules never touch prometheus_client directly: they call e.g.
`metrics.rate_limit_refused("visitor")` or `metrics.model_call(...)`, so names, labels and
buckets stay consistent and reviewable in this one file.

Label values are bounded: GraphQL operation names come from clients, so only the first
`max_operation_labels` distinct, well-formed names get their own series and the rest are counted
as "other" (a client inventing names cannot blow up Prometheus's memory).

Multi-process: with several uvicorn workers in one container, set PROMETHEUS_MULTIPROC_DIR (the
`parley api` command does it when --workers > 1) and every process writes its samples to files
there; `/metrics` aggregates them. In Kubernetes run one API process per pod instead and let
Prometheus scrape each pod.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

NAMESPACE = "parley"
OTHER = "other"
ANONYMOUS = "anonymous"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
JOB_BUCKETS = (0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
MODEL_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_KNOWN_PATHS = frozenset({"graphql", "health", "ready", "metrics", "webhooks", "widget"})


def multiprocess_dir() -> str | None:
    """The directory shared by the processes of one server, when in multi-process mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# --- HTTP and GraphQL -------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests by method, first path segment and status code.",
    ["method", "path", "status"],
    namespace=NAMESPACE,
)
GRAPHQL_OPERATIONS = Counter(
    "graphql_operations",
    "GraphQL operations by name, type (query, mutation) and outcome "
    "(ok, error: an expected error such as validation, internal: a bug, rejected: refused "
    "before execution, such as bad credentials or a malformed request).",
    ["operation", "type", "outcome"],
    namespace=NAMESPACE,
)
GRAPHQL_LATENCY = Histogram(
    "graphql_operation_duration_seconds",
    "Time to execute one GraphQL operation, including its transaction.",
    ["operation", "type"],
    namespace=NAMESPACE,
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_ERRORS = Counter(
    "graphql_errors",
    "GraphQL errors returned to clients, by extensions.code.",
    ["code"],
    namespace=NAMESPACE,
)

# --- Database -----------------------------------------------------------------------------------
DB_POOL_CHECKED_OUT = Gauge(
    "db_pool_checked_out",
    "Connections currently lent out by the pool.",
    ["pool"],
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "db_pool_size",
    "Connections the pool keeps open (its configured size).",
    ["pool"],
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
DB_POOL_OVERFLOW = Gauge(
    "db_pool_overflow",
    "Connections open beyond the pool size (negative: room left before the size is reached).",
    ["pool"],
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
DB_ROUTES = Counter(
    "db_routes",
    "Transactions by the server chosen (primary, replica) and why.",
    ["target", "reason"],
    namespace=NAMESPACE,
)
DB_UNAVAILABLE = Counter(
    "db_unavailable",
    "Requests answered 503 because the database was unreachable or the pool was exhausted.",
    namespace=NAMESPACE,
)

# --- Jobs ---------------------------------------------------------------------------------------
QUEUE_DEPTH = Gauge(
    "queue_depth",
    "Jobs waiting in an arq queue (due now or deferred).",
    ["queue"],
    namespace=NAMESPACE,
    multiprocess_mode="livemax",
)
JOBS = Counter(
    "jobs",
    "Finished job runs by function and outcome (success, failure, retry, cancelled).",
    ["function", "outcome"],
    namespace=NAMESPACE,
)
JOB_DURATION = Histogram(
    "job_duration_seconds",
    "Run time of a job by function.",
    ["function"],
    namespace=NAMESPACE,
    buckets=JOB_BUCKETS,
)
JOBS_IN_PROGRESS = Gauge(
    "jobs_in_progress",
    "Jobs running right now, by function.",
    ["function"],
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
OUTBOX_DEPTH = Gauge(
    "outbox_depth",
    "Jobs recorded in the job outbox and not yet handed to arq (sampled by the relay).",
    namespace=NAMESPACE,
    multiprocess_mode="livemax",
)
OUTBOX_JOBS = Counter(
    "outbox_jobs",
    "Outbox jobs by who handed them to arq (request, relay) and outcome (delivered, left).",
    ["path", "outcome"],
    namespace=NAMESPACE,
)

# --- Product features (incremented by their domains) --------------------------------------------
RATE_LIMIT_REFUSALS = Counter(
    "rate_limit_refusals",
    "Requests refused by a rate limit, by the limit's name.",
    ["limit"],
    namespace=NAMESPACE,
)
CACHE_LOOKUPS = Counter(
    "cache_lookups",
    "Cache look-ups by cache and result (hit, miss).",
    ["cache", "result"],
    namespace=NAMESPACE,
)
HOT_CACHE_LOOKUPS = Counter(
    "hot_cache_lookups",
    "Look-ups in the two-level cache of hot reads (app/cache) by cache (apikey, widget, plan) "
    "and the tier that answered (local, redis, database).",
    ["cache", "tier"],
    namespace=NAMESPACE,
)
HOT_CACHE_INVALIDATIONS = Counter(
    "hot_cache_invalidations",
    "Entries of the two-level cache invalidated after a committed change, by cache.",
    ["cache"],
    namespace=NAMESPACE,
)
HOT_CACHE_REDIS_ERRORS = Counter(
    "hot_cache_redis_errors",
    "Redis calls of the two-level cache that failed (the cache then reads PostgreSQL).",
    namespace=NAMESPACE,
)
MODEL_REQUESTS = Counter(
    "model_requests",
    "Calls to a model provider by model, operation (chat, embedding) and outcome.",
    ["model", "operation", "outcome"],
    namespace=NAMESPACE,
)
MODEL_LATENCY = Histogram(
    "model_request_duration_seconds",
    "Latency of calls to a model provider.",
    ["model", "operation"],
    namespace=NAMESPACE,
    buckets=MODEL_BUCKETS,
)
MODEL_TOKENS = Counter(
    "model_tokens",
    "Tokens sent to and received from models, by model and kind (input, output).",
    ["model", "kind"],
    namespace=NAMESPACE,
)
WEBHOOK_EVENTS = Counter(
    "webhook_events",
    "Incoming webhook events by provider, event type and outcome "
    "(processed, duplicate, ignored, failed).",
    ["provider", "event_type", "outcome"],
    namespace=NAMESPACE,
)

# --- Security -----------------------------------------------------------------------------------
FAILED_LOGINS = Counter(
    "failed_logins", "Log-ins refused for a wrong email or password.", namespace=NAMESPACE
)
CROSS_TENANT_REFUSALS = Counter(
    "cross_tenant_refusals",
    "Requests refused because the credentials belong to another workspace, by credential kind.",
    ["credential"],
    namespace=NAMESPACE,
)
WEBHOOK_SIGNATURE_INVALID = Counter(
    "webhook_signature_invalid",
    "Webhook deliveries refused for a missing or wrong signature, by provider.",
    ["provider"],
    namespace=NAMESPACE,
)
ORIGIN_REFUSALS = Counter(
    "origin_refusals",
    "Widget requests refused because the page's origin is not allowed for the key.",
    namespace=NAMESPACE,
)


class BoundedLabel:
    """Keeps a client-chosen label's distinct values under a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        """`value` itself while there is room for it, else "other"."""
        if not value:
            return ANONYMOUS
        if not _NAME.match(value):
            return OTHER
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


operation_label = BoundedLabel(200)


def configure(max_operation_labels: int) -> None:
    """Apply settings (called at start-up)."""
    operation_label.limit = max_operation_labels


def path_label(path: str) -> str:
    """The first path segment of a known route, or "other" (paths are client-chosen)."""
    segment = path.strip("/").split("/", 1)[0]
    return segment if segment in _KNOWN_PATHS else OTHER


# Each series' child, by its metric and label values: `labels()` takes a lock and builds its
# key on every call, and a request records several series, so every recording here goes
# through `_series`. It holds no more than the registry already does (one entry per child).
# Nothing removes a series from these metrics (a removed child would go on counting here,
# unseen).
_children: dict[tuple[Any, ...], Any] = {}


def _series(metric: Any, *values: str) -> Any:
    key = (metric, *values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def http_request(method: str, path: str, status: int) -> None:
    """Count a finished HTTP request."""
    method = method if method in ("GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE") else OTHER
    _series(HTTP_REQUESTS, method, path_label(path), str(status)).inc()


def graphql_operation(
    operation: str | None, kind: str, outcome: str, seconds: float, codes: Iterable[str] = ()
) -> None:
    """Record one GraphQL operation: its outcome, latency and the codes of its errors."""
    name = operation_label(operation)
    _series(GRAPHQL_OPERATIONS, name, kind, outcome).inc()
    _series(GRAPHQL_LATENCY, name, kind).observe(seconds)
    for code in codes:
        _series(GRAPHQL_ERRORS, code).inc()


def db_unavailable() -> None:
    """A request failed because the database could not be reached in time."""
    DB_UNAVAILABLE.inc()


def db_route(target: str, reason: str) -> None:
    """A transaction was sent to `target` (primary or replica) for `reason`."""
    _series(DB_ROUTES, target, reason).inc()


# What this process last wrote to each pool gauge (by the gauge and the pool's name): a
# write takes a lock (and a file in multi-process mode), so one that would not change the
# value is skipped.
_pool_written: dict[tuple[Gauge, str], float] = {}


def instrument_engine(engine: Any, pool_name: str) -> None:
    """Keep the pool gauges current from SQLAlchemy's pool events, so every process reports
    its own pool without being asked (which multi-process mode needs)."""
    from sqlalchemy import event

    pool = engine.sync_engine.pool
    checked_out = _series(DB_POOL_CHECKED_OUT, pool_name)
    read_size = getattr(pool, "size", lambda: 0)
    read_overflow = getattr(pool, "overflow", lambda: 0)

    # The checked-out count is kept by the events themselves: SQLAlchemy announces a checkin
    # before the connection is back in the pool, so reading the pool then would count it
    # still out (and an idle pool would report one connection in use).
    def checkout(*_: Any) -> None:
        checked_out.inc()
        refresh()

    def checkin(*_: Any) -> None:
        checked_out.dec()

    def refresh(*_: Any) -> None:
        # After the full pool turns a connection away, the overflow is read at the next
        # checkout (the close is announced before the pool counts it).
        _set_if_moved(DB_POOL_SIZE, pool_name, read_size())
        _set_if_moved(DB_POOL_OVERFLOW, pool_name, read_overflow())

    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    for name in ("connect", "close", "invalidate"):
        event.listen(pool, name, refresh)
    # Added, not set: engines of one name in one process (tests) share the series.
    checked_out.inc(pool.checkedout() if hasattr(pool, "checkedout") else 0)
    refresh()


def _set_if_moved(gauge: Gauge, pool_name: str, value: float) -> None:
    key = (gauge, pool_name)
    if _pool_written.get(key) != value:
        _pool_written[key] = value
        _series(gauge, pool_name).set(value)


def queue_depth(queue: str, depth: int) -> None:
    """The number of jobs waiting in `queue`."""
    _series(QUEUE_DEPTH, queue).set(depth)


def job_started(function: str) -> None:
    """A job began running."""
    _series(JOBS_IN_PROGRESS, function).inc()


def job_finished(function: str, outcome: str, seconds: float) -> None:
    """A job run ended with `outcome` (success, failure, retry, cancelled)."""
    _series(JOBS_IN_PROGRESS, function).dec()
    _series(JOBS, function, outcome).inc()
    _series(JOB_DURATION, function).observe(seconds)


def outbox_depth(depth: int) -> None:
    """The number of jobs waiting in the outbox."""
    OUTBOX_DEPTH.set(depth)


def outbox_jobs(path: str, outcome: str, count: int = 1) -> None:
    """`count` outbox jobs were handed to arq ("delivered") or left for later ("left") by
    `path` ("request" right after commit, or "relay")."""
    if count:
        _series(OUTBOX_JOBS, path, outcome).inc(count)


def rate_limit_refused(limit: str) -> None:
    """A request was refused by the rate limit named `limit`."""
    _series(RATE_LIMIT_REFUSALS, limit).inc()


def cache_lookup(cache: str, hit: bool) -> None:
    """A look-up in the cache named `cache`."""
    _series(CACHE_LOOKUPS, cache, "hit" if hit else "miss").inc()


def hot_cache_lookup(cache: str, tier: str) -> None:
    """A look-up in the two-level cache `cache`, answered by `tier` (local, redis, database)."""
    _series(HOT_CACHE_LOOKUPS, cache, tier).inc()


def hot_cache_invalidation(cache: str) -> None:
    """An entry of the two-level cache `cache` was invalidated."""
    _series(HOT_CACHE_INVALIDATIONS, cache).inc()


def hot_cache_redis_error() -> None:
    """A Redis call of the two-level cache failed."""
    HOT_CACHE_REDIS_ERRORS.inc()


def model_call(
    model: str,
    operation: str,
    seconds: float,
    *,
    outcome: str = "ok",
    input_tokens: int = 0,
    output_tokens: int = 0,
) -> None:
    """One call to a model provider: latency, outcome and the tokens it used."""
    _series(MODEL_REQUESTS, model, operation, outcome).inc()
    _series(MODEL_LATENCY, model, operation).observe(seconds)
    if input_tokens:
        _series(MODEL_TOKENS, model, "input").inc(input_tokens)
    if output_tokens:
        _series(MODEL_TOKENS, model, "output").inc(output_tokens)


def webhook_event(provider: str, event_type: str, outcome: str) -> None:
    """An incoming webhook event and what became of it."""
    _series(WEBHOOK_EVENTS, provider, event_type, outcome).inc()


def webhook_signature_invalid(provider: str) -> None:
    """A webhook delivery whose signature did not verify."""
    _series(WEBHOOK_SIGNATURE_INVALID, provider).inc()


def login_failed() -> None:
    """A log-in with a wrong email or password."""
    FAILED_LOGINS.inc()


def cross_tenant_refused(credential: str) -> None:
    """Credentials of one workspace were presented for another (`credential`: user, secret_key)."""
    _series(CROSS_TENANT_REFUSALS, credential).inc()


def origin_refused() -> None:
    """A publishable key was used from an origin it does not allow."""
    ORIGIN_REFUSALS.inc()


def render() -> tuple[bytes, str]:
    """The exposition text of every series in this process (or, in multi-process mode, in
    every process of the server) and its content type."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Drop a stopped process's live gauges (multi-process mode only)."""
    if multiprocess_dir() is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
