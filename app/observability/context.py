"""What every log line and error report says about the work it came from.

One `RequestContext` per request or job lives in a context variable: the request id (the
caller's `X-Request-Id` or a new one), the W3C trace id (from an incoming `traceparent` or a new
one), and, once known, the workspace, the GraphQL operation name, the client address and the
job. asyncio copies context variables into each task, so concurrent requests never see each
other's values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# version-traceid-parentid-flags (https://www.w3.org/TR/trace-context/#traceparent-header)
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass
class RequestContext:
    """Identifiers of the request or job being handled."""

    request_id: str | None = None
    trace_id: str | None = None
    parent_span_id: str | None = None
    workspace_id: str | None = None
    operation: str | None = None
    client_ip: str | None = None
    job_id: str | None = None
    job_function: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def log_fields(self) -> dict[str, str]:
        """The non-empty identifiers, as log fields."""
        return {name: value for name in _LOG_FIELDS if (value := getattr(self, name))}


# What `log_fields` gives, worked out once: every log line of a request asks for them.
_LOG_FIELDS = tuple(
    f.name for f in fields(RequestContext) if f.name not in ("extra", "parent_span_id", "client_ip")
)


_current: ContextVar[RequestContext | None] = ContextVar("parley_request_context", default=None)


def current() -> RequestContext | None:
    """The context of the request or job running in this task, if any."""
    return _current.get()


@contextmanager
def bound(context: RequestContext) -> Iterator[RequestContext]:
    """Make `context` current for the block (and tasks started inside it)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def update(**values: Any) -> None:
    """Fill in identifiers learnt along the way (workspace after authentication...)."""
    context = _current.get()
    if context is None:
        return
    for name, value in values.items():
        setattr(context, name, str(value) if value is not None else None)


def clean_request_id(raw: str | None) -> str:
    """The caller's request id when it is a sane token, otherwise a fresh one, so a client
    cannot inject newlines or megabytes into every log line."""
    if raw and _REQUEST_ID.match(raw):
        return raw
    # 128 random bits as 32 hex digits (uuid4().hex's shape, without building a UUID).
    return os.urandom(16).hex()


def parse_traceparent(raw: str | None) -> tuple[str, str] | None:
    """(trace id, parent span id) of a valid W3C `traceparent`, else None. All-zero ids and
    version ff are invalid by the specification."""
    if not raw:
        return None
    match = _TRACEPARENT.match(raw.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id


def new_trace_id() -> str:
    """A random 128-bit trace id in W3C form."""
    return os.urandom(16).hex()


def new_span_id() -> str:
    """A random 64-bit span id in W3C form."""
    return os.urandom(8).hex()
