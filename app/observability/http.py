"""The outermost layer of every HTTP request: request id, trace context, metrics.

It runs before routing and before Sentry's middleware, so:
- the request id (the caller's `X-Request-Id` when sane, else a new one) is bound for every log
  line of the request and echoed back in the `X-Request-Id` response header;
- an incoming W3C `traceparent` is honoured: its trace id goes into the logs, and it is handed
  to Sentry as a `sentry-trace` header (same 32/16 hex ids) without a sampling flag, so Sentry
  joins the caller's trace but a client cannot force every request to be traced;
- the request is counted by method, path and status, and logged once (the access log).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from app.observability import context as request_context
from app.observability import metrics

log = logging.getLogger("parley.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGICall = Callable[..., Awaitable[None]]


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def observe(call_next: ASGICall, scope: Scope, receive: Receive, send: Send) -> None:
    """Handle one HTTP request through `call_next` with its context bound."""
    headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
    request_id = request_context.clean_request_id(_header(headers, b"x-request-id"))
    parent = request_context.parse_traceparent(_header(headers, b"traceparent"))
    trace_id, parent_span = parent or (request_context.new_trace_id(), None)
    if parent is not None and _header(headers, b"sentry-trace") is None:
        headers.append((b"sentry-trace", f"{trace_id}-{parent_span}".encode()))
        scope = {**scope, "headers": headers}
    status = 500
    rid = request_id.encode()

    async def send_with_id(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            message = {
                **message,
                "headers": [*(message.get("headers") or []), (b"x-request-id", rid)],
            }
        await send(message)

    context = request_context.RequestContext(
        request_id=request_id, trace_id=trace_id, parent_span_id=parent_span
    )
    started = time.perf_counter()
    with request_context.bound(context):
        try:
            await call_next(scope, receive, send_with_id)
        finally:
            method, path = scope.get("method", "GET"), scope.get("path", "/")
            metrics.http_request(method, path, status)
            # The access log: one line per request, with the request's context attached.
            log.info(
                "%s %s %d",
                method,
                path,
                status,
                extra={
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
