"""GET /metrics: the Prometheus exposition of this process (or of every process of this
server in multi-process mode)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, get

from app.jobs import QUEUE_BULK, QUEUE_INTERACTIVE
from app.observability import metrics
from tenancy.security import constant_time_equals

log = logging.getLogger(__name__)


async def refresh_queue_depth(redis: Any) -> None:
    """Read the arq queues' lengths (sorted sets keyed by queue name) into the gauge."""
    for queue in (QUEUE_INTERACTIVE, QUEUE_BULK):
        metrics.queue_depth(queue, int(await redis.zcard(queue)))


def _authorised(request: Request[Any, Any, Any], token: str | None) -> bool:
    if not token:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and constant_time_equals(value.strip(), token)


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus scrape target. Protected by METRICS_TOKEN when one is configured."""
    state = request.app.state.parley
    token = state.settings.metrics.token
    if not _authorised(request, token.get_secret_value() if token else None):
        return Response(b"metrics token required\n", status_code=401, media_type="text/plain")
    try:
        await refresh_queue_depth(state.redis)
    except Exception as exc:  # Redis down must not hide every other series
        log.warning("queue depth unavailable: %s", type(exc).__name__)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
