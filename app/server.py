"""create_app(): the Litestar application with Parley's routes, state and lifecycle."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar

from app.config import Settings, get_settings
from app.graphql.http import build_guards, graphql_controller
from app.graphql.schema import build_schema
from app.graphql.ws import websocket_route
from app.http.health import health, ready
from app.http.metrics import metrics_endpoint
from app.logging import configure_logging
from app.observability import http as observed_http
from app.observability import metrics
from app.observability.sentry import init_sentry
from app.state import AppState
from app.widget.http import widget_routes
from billing.webhooks.http import razorpay_webhook

log = logging.getLogger(__name__)


class ParleyApp(Litestar):
    """Litestar with one layer outside everything else (Sentry's middleware included): request
    id, trace context and HTTP metrics (app/observability/http.py)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        await observed_http.observe(super().__call__, scope, receive, send)


def upload_body_limit(settings: Settings) -> int:
    """Largest multipart body: every allowed file at its size limit, plus the form fields."""
    knowledge = settings.knowledge
    uploads = knowledge.max_file_bytes * knowledge.max_files_per_request + 1_048_576
    return max(settings.api.max_body_bytes, uploads)


def tune_gc(gen0_threshold: int) -> None:
    """Fewer garbage collections while serving: everything alive after start-up (modules,
    the schema, pools) moves out of the collector's sight (gc.freeze), and the young
    generation is collected every `gen0_threshold` allocations instead of 700. A request
    allocates thousands of short-lived objects, so at the default the collector ran
    several times per request and kept rescanning what a busy process holds in flight.
    While requests left reference cycles, too high a threshold cost the tail, each
    collection pausing longer (op1's p99 at 8 clients 18 ms at 5,000, 22 ms at 20,000, 58 ms
    at 100,000). Requests now leave none (tests/app/test_request_garbage.py), so a collection
    scans only what requests in flight hold: at 700 / 5,000 / 20,000 the collector took
    1,003 / 177 / 5 ms of a 25-second op1 run at 8 and 32 clients, its longest pause
    3.5-4.9 ms (docs/BENCHMARKS.md, tenth pass). Older generations keep their ratios, so
    cyclic garbage is still collected."""
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


def create_app(settings: Settings | None = None, state: AppState | None = None) -> Litestar:
    """Build the application. Pass `state` to share pools with a caller (tests do)."""
    settings = settings or get_settings()
    configure_logging(settings)
    # Before the app and the schema exist: Sentry's integrations hook their constructors.
    init_sentry(settings, "api")
    metrics.configure(settings.metrics.max_operation_labels)
    schema = build_schema(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if state is not None:  # owned by the caller
            yield
            return
        app.state.parley = await AppState.create(settings)
        tune_gc(settings.api.gc_gen0_threshold)
        try:
            yield
        finally:
            await app.state.parley.close()
            metrics.process_exited(os.getpid())

    app = ParleyApp(
        route_handlers=[
            graphql_controller(schema, settings, upload_body_limit(settings)),
            websocket_route(schema, build_guards(settings).allowlist),
            *widget_routes(schema, settings),
            health,
            ready,
            metrics_endpoint,
            razorpay_webhook,
        ],
        lifespan=[lifespan],
        request_max_body_size=settings.api.max_body_bytes,
        debug=False,
        logging_config=None,
    )
    if state is not None:
        app.state.parley = state
    return app
