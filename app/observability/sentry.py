"""Error reporting and performance traces through sentry-sdk; off without a DSN.

What reaches Sentry:
- unexpected errors only: anything derived from `app.errors.ParleyError` (validation, not
  found, rate limited, quota...) is part of the API, not a bug, and is dropped in before_send;
- tags naming where it happened: component (api, worker), workspace id, GraphQL operation,
  request id, job function; the trace id of the request (a caller's W3C `traceparent` is
  continued, see app/observability/http.py);
- no secrets and no personal data: request bodies are never sent (GraphQL variables carry
  passwords, prompts and webhook payloads), local variables are off, and before_send removes
  credential headers and cookies, replaces any field whose name is sensitive (password, token,
  key, secret, prompt, question, answer, messages, body, email...) and masks credentials and
  email addresses inside every remaining string.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from app.config import Settings
from app.errors import ParleyError
from app.logging import REDACTED, SENSITIVE_NAMES, mask
from app.observability import context as request_context

log = logging.getLogger(__name__)

# Header names are compared lower-case; values of these never leave the process.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-razorpay-signature",
        "x-webhook-signature",
        "x-metrics-token",
    }
)
_EXTRA_SENSITIVE = re.compile(r"messages|email|ip_address|phone|variables", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Structural keys of the event that hold no user data and must keep their shape.
_STRUCTURAL = frozenset({"contexts", "exception", "values", "stacktrace", "frames", "spans"})


def _sensitive(name: str) -> bool:
    if name in _STRUCTURAL:
        return False
    return bool(SENSITIVE_NAMES.search(name) or _EXTRA_SENSITIVE.search(name))


def _scrub_text(text: str) -> str:
    return _EMAIL.sub("[email]", mask(text))


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with sensitive fields replaced and strings masked."""
    if depth > 20:
        return REDACTED
    if isinstance(value, dict):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and _sensitive(key) and value[key] not in (None, "")
                else scrub(value[key], depth + 1)
            )
            for key in value
        }
    if isinstance(value, list | tuple):
        return [scrub(item, depth + 1) for item in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    request.pop("data", None)  # bodies: GraphQL variables, webhook payloads
    request.pop("cookies", None)
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {
            name: REDACTED if name.lower() in SENSITIVE_HEADERS else _scrub_text(str(value))
            for name, value in headers.items()
        }
    if isinstance(request.get("query_string"), str):
        request["query_string"] = _scrub_text(request["query_string"])
    return request


def _is_expected(hint: dict[str, Any]) -> bool:
    exc_info = hint.get("exc_info")
    if exc_info and isinstance(exc_info[1], ParleyError):
        return True
    record = hint.get("log_record")
    record_exc = getattr(record, "exc_info", None)
    return bool(record_exc and isinstance(record_exc[1], ParleyError))


def _tag(event: dict[str, Any]) -> None:
    current = request_context.current()
    if current is None:
        return
    tags = event.setdefault("tags", {})
    for name, tag in (
        ("workspace_id", "workspace_id"),
        ("operation", "graphql.operation"),
        ("request_id", "request_id"),
        ("job_function", "job.function"),
        ("job_id", "job.id"),
    ):
        value = getattr(current, name)
        if value:
            tags[tag] = value
    if current.trace_id:
        event.setdefault("contexts", {}).setdefault("parley", {})["trace_id"] = current.trace_id


def tag_scope(context: request_context.RequestContext) -> None:
    """Copy a job's identifiers onto Sentry's scope for the job. Needed where Sentry captures
    an error after our context has been unbound (arq's integration wraps the job from the
    outside). A no-op when Sentry is off."""
    import sentry_sdk

    scope = sentry_sdk.get_isolation_scope()
    for name, tag in (
        ("workspace_id", "workspace_id"),
        ("job_function", "job.function"),
        ("job_id", "job.id"),
        ("request_id", "request_id"),
    ):
        value = getattr(context, name)
        if value:
            scope.set_tag(tag, value)


def clean_event(event: dict[str, Any]) -> dict[str, Any]:
    """Tag and scrub an event in place (used for errors and transactions alike)."""
    _tag(event)
    if isinstance(event.get("request"), dict):
        event["request"] = _scrub_request(event["request"])
    event.pop("user", None)  # never an email or IP address
    for key in ("extra", "breadcrumbs", "logentry", "message", "exception", "spans"):
        if key in event:
            event[key] = scrub(event[key])
    contexts = event.get("contexts")
    if isinstance(contexts, dict):
        event["contexts"] = {
            name: value if name in ("trace", "runtime", "os") else scrub(value)
            for name, value in contexts.items()
        }
    return event


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Drop expected errors; tag and scrub the rest."""
    if _is_expected(hint):
        return None
    return clean_event(event)


def before_send_transaction(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Tag and scrub performance traces."""
    return clean_event(event)


def init_sentry(settings: Settings, component: str) -> bool:
    """Start reporting to Sentry when a DSN is configured; returns whether it is on.

    Call it before the Litestar app, the schema and the arq workers are built: the
    integrations hook into their constructors.
    """
    dsn = settings.sentry.dsn.get_secret_value() if settings.sentry.dsn else ""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.arq import ArqIntegration
    from sentry_sdk.integrations.asyncpg import AsyncPGIntegration
    from sentry_sdk.integrations.litestar import LitestarIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.redis import RedisIntegration
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
    from sentry_sdk.integrations.strawberry import StrawberryIntegration

    sentry_sdk.init(
        dsn=dsn,
        release=settings.sentry.release,
        environment=settings.sentry.environment or settings.env,
        traces_sample_rate=settings.sentry.traces_sample_rate,
        # Collect the least: no user info, cookies, bodies, GraphQL documents or variables,
        # model inputs or outputs, query parameters, job arguments or frame variables.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "denylist", "terms": sorted(SENSITIVE_HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "graphql": {"document": False, "variables": False},
            "gen_ai": {"inputs": False, "outputs": False},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        before_send=before_send,  # type: ignore[arg-type]
        before_send_transaction=before_send_transaction,  # type: ignore[arg-type]
        integrations=[
            LitestarIntegration(),
            StrawberryIntegration(async_execution=True),
            ArqIntegration(),
            SqlalchemyIntegration(),
            AsyncPGIntegration(),
            RedisIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
    )
    sentry_sdk.set_tag("component", component)
    log.info("sentry reporting on", extra={"component": component})
    return True
