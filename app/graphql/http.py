"""The /graphql HTTP endpoint: GraphQL over HTTP, one transaction per request.

Strawberry answers 200 even when a resolver raised, so committing on a 2xx would keep half of
a failed mutation. Here the transaction commits only when the result has no errors (or every
error explicitly asks for the commit, like refresh-token reuse detection, whose revocation must
persist), and jobs are enqueued only after that commit.

Protection, in the order a request meets it: media type negotiation (transport.py), CSRF
(csrf.py), body size and batching limits, authentication, persisted queries or the widget
allowlist (persisted.py), parsing and validation with token, depth and alias limits
(complexity.py), then cost and rate limits (protection.py) before anything executes. Every
response to a GraphQL request carries the RateLimit headers of the budgets it was charged to;
requests refused before a caller is known are charged to the client IP's budget.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from litestar import Request, Response, get, post
from litestar.controller import Controller
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.cache.commit import announced
from app.config import Settings
from app.db.availability import database_unreachable
from app.db.request import RequestTransaction
from app.db.routing import Route
from app.errors import (
    Forbidden,
    ParleyError,
    RateLimited,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from app.graphql.context import Context
from app.graphql.csrf import check_csrf
from app.graphql.errors import (
    DATABASE_UNAVAILABLE,
    INTERNAL,
    INVALID_DOCUMENT,
    lost_database,
)
from app.graphql.node import from_global_id
from app.graphql.operation import operation_kind
from app.graphql.persisted import Allowlist, PersistedQueries
from app.graphql.protection import charge
from app.graphql.transport import (
    GRAPHQL_RESPONSE,
    JSON,
    GraphQLRequest,
    RequestError,
    negotiate,
)
from app.http.client import client_ip
from app.observability import context as request_context
from app.observability import metrics
from app.state import AppState
from tenancy.auth import Credentials, authenticate
from tenancy.principal import Principal
from tenancy.ratelimit import service as ratelimit
from tenancy.ratelimit.headers import rate_limit_headers
from tenancy.ratelimit.policy import Decision, is_widget
from tenancy.ratelimit.refusals import RefusalCache, credential_key
from tenancy.security_events import service as security_events

__all__ = ["GRAPHQL_RESPONSE", "JSON", "GraphQLRequest", "RequestError", "graphql_controller"]

log = logging.getLogger("parley.graphql")

WIDGET_OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations" / "widget"
_REQUEST_CONTENT_TYPES = (JSON, GRAPHQL_RESPONSE, "application/graphql+json")


@dataclass
class Reply:
    """A response before it is encoded."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Guards:
    """Per-application state of the protections: the APQ store, the widget allowlist and the
    credentials refused moments ago."""

    persisted: PersistedQueries
    allowlist: Allowlist
    refusals: RefusalCache


def _respond(media: str, reply: Reply) -> Response[bytes]:
    return Response(
        content=orjson.dumps(reply.body),
        status_code=reply.status,
        media_type=media,
        headers=reply.headers,
    )


def _error_reply(exc: ParleyError, headers: dict[str, str] | None = None) -> Reply:
    headers = dict(headers or {})
    retry = exc.extensions.get("retryAfter")
    if retry is not None and exc.status_code in (429, 503):
        headers.setdefault("Retry-After", str(retry))
    body = {"errors": [{"message": exc.message, "extensions": exc.as_extensions()}]}
    return Reply(body, exc.status_code, headers)


def _parse_json_param(raw: str | None, name: str) -> dict[str, Any] | None:
    if raw in (None, ""):
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"The {name} parameter is not valid JSON.") from exc
    if value is not None and not isinstance(value, dict):
        raise RequestError(400, f"The {name} parameter must be a JSON object.")
    return value


def _operation(data: Any) -> GraphQLRequest:
    if not isinstance(data, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    query, variables = data.get("query"), data.get("variables")
    operation_name, extensions = data.get("operationName"), data.get("extensions")
    if query is not None and not isinstance(query, str):
        raise RequestError(400, "query must be a string.")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "variables must be an object.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "operationName must be a string.")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "extensions must be an object.")
    return GraphQLRequest(query, variables, operation_name, extensions)


def _check_json_media(media: str, content_params: list[str]) -> None:
    """415 unless the body is declared as JSON in UTF-8."""
    if media not in _REQUEST_CONTENT_TYPES:
        raise RequestError(
            415, "Send GraphQL requests as application/json.", code="UNSUPPORTED_MEDIA_TYPE"
        )
    for param in content_params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise RequestError(415, "Send the body as UTF-8.", code="UNSUPPORTED_MEDIA_TYPE")


async def parse_request(
    request: Request[Any, Any, Any],
    max_batch: int,
    max_body_bytes: int,
    *,
    max_files: int = 0,
) -> list[GraphQLRequest] | GraphQLRequest:
    """The operation(s) in a GET query string, a JSON POST body, or (with `max_files`) a
    GraphQL multipart request carrying files."""
    if request.method == "GET":
        params = request.query_params
        return GraphQLRequest(
            query=params.get("query"),
            variables=_parse_json_param(params.get("variables"), "variables"),
            operation_name=params.get("operationName"),
            extensions=_parse_json_param(params.get("extensions"), "extensions"),
        )
    media, *content_params = request.headers.get("content-type", "").split(";")
    media = media.strip().lower()
    if media == "multipart/form-data" and max_files > 0:
        from app.graphql.uploads import parse_multipart

        return _operation(await parse_multipart(request, max_files))
    _check_json_media(media, content_params)
    too_large = RequestError(
        413, f"The request body is larger than {max_body_bytes} bytes.", code="PAYLOAD_TOO_LARGE"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body_bytes:
        raise too_large
    try:
        body = await request.body()
    except RequestEntityTooLarge as exc:
        raise too_large from exc
    if len(body) > max_body_bytes:
        # The route accepts large multipart uploads; JSON keeps the ordinary limit.
        raise too_large
    if not body.strip():
        raise RequestError(400, "The request body is empty; send a JSON object with a query.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "The request body is not valid JSON.") from exc
    if isinstance(data, list):
        if max_batch <= 0:
            raise RequestError(400, "Batched requests are not enabled on this server.")
        if not data or len(data) > max_batch:
            raise RequestError(400, f"A batch holds 1 to {max_batch} operations.")
        return [_operation(item) for item in data]
    return _operation(data)


def _workspace_header(request: Request[Any, Any, Any]) -> uuid.UUID | None:
    raw = request.headers.get("x-workspace-id")
    return _workspace_id(raw) if raw else None


# A dashboard sends the same workspace id on every request (a refusal is not remembered).
@lru_cache(maxsize=1024)
def _workspace_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return from_global_id(raw, expected="Workspace", field="X-Workspace-Id")[1]


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if header:
        raise ValidationFailed(
            "The Authorization header must be 'Bearer <token>'.", field="Authorization"
        )
    return None


def _should_commit(result: ExecutionResult) -> bool:
    if not result.errors:
        return True
    return all(getattr(e.original_error, "commit_anyway", False) for e in result.errors)


def _status_for(result: ExecutionResult, media: str) -> int:
    if result.data is None and result.errors:
        first = result.errors[0]
        original = first.original_error
        if isinstance(original, RateLimited | Unavailable):
            return original.status_code  # refused before executing, whatever the media type
        if (first.extensions or {}).get("code") == INVALID_DOCUMENT:
            return 400 if media == GRAPHQL_RESPONSE else 200
        if isinstance(original, ParleyError) and media == GRAPHQL_RESPONSE:
            return original.status_code
    return 200


def _body(result: ExecutionResult, context: Context) -> dict[str, Any]:
    body: dict[str, Any] = {}
    errors = result.errors or []
    if errors:
        body["errors"] = [e.formatted for e in errors]
    # Errors without a path were raised before execution (parse, validation, variables, limits):
    # the result then has no data entry at all, as the GraphQL specification asks.
    if result.data is not None or any(e.path for e in errors):
        body["data"] = result.data
    extensions = dict(result.extensions or {})
    cost = context.guard.cost
    if cost is not None:
        extensions["cost"] = {
            "estimated": cost.cost,
            "points": cost.points(context.state.settings.api.cost_per_point),
        }
    if extensions:
        body["extensions"] = extensions
    return body


async def _charge_one(context: Context) -> Decision | None:
    """Charge an operation that never reached the cost check one point (its document was
    refused, or it was not found); a limiter that cannot decide just leaves it uncharged."""
    try:
        return await charge(context, 1)
    except Unavailable:
        return None


async def _refused_caller(state: AppState, ip: str | None, exc: ParleyError) -> Reply:
    """Failed authentication: charged to the client IP, and RATE_LIMITED once that runs out."""
    decision = await ratelimit.charge_client_ip(state.limiter, ip, state.settings)
    headers = rate_limit_headers(decision) if decision else {}
    if decision is not None and not decision.allowed:
        return _error_reply(ratelimit.refusal(decision), headers)
    return _error_reply(exc, headers)


async def _document(
    state: AppState, guards: Guards, principal: Principal, op: GraphQLRequest
) -> tuple[GraphQLRequest, str | None]:
    """The document to run, and the APQ hash to remember it under after it has run."""
    if is_widget(principal):
        return guards.allowlist.resolve(op), None
    return await guards.persisted.resolve(state.limiter.redis, op)


async def _run(schema: Any, context: Context, op: GraphQLRequest, method: str) -> ExecutionResult:
    allowed = (
        {OperationType.QUERY} if method == "GET" else {OperationType.QUERY, OperationType.MUTATION}
    )
    try:
        result: ExecutionResult = await schema.execute(
            op.query,
            variable_values=op.variables,
            context_value=context,
            operation_name=op.operation_name,
            allowed_operation_types=allowed,
            operation_extensions=op.extensions,
        )
    except MissingQueryError as exc:
        raise RequestError(400, "No GraphQL query found in the request.") from exc
    except InvalidOperationTypeError as exc:
        if method == "GET":
            raise RequestError(
                405,
                "Mutations are not allowed over GET; use POST.",
                code="METHOD_NOT_ALLOWED",
                headers={"Allow": "POST"},
            ) from exc
        raise RequestError(400, "Subscriptions go over the WebSocket endpoint.") from exc
    except CannotGetOperationTypeError as exc:
        raise RequestError(
            400, "operationName does not name an operation in the document."
        ) from exc
    return result


class _ReplicaMiss(Exception):
    """The replica could not serve this request (unreachable, or behind on credentials
    created a moment ago); it is retried on the primary."""


async def _attempt(  # noqa: PLR0912, PLR0915 - one request's life, in order, kept readable in one place
    state: AppState,
    schema: Any,
    guards: Guards,
    request: Request[Any, Any, Any],
    op: GraphQLRequest,
    media: str,
    creds: Credentials,
    route: Route,
    refusal_key: str,
) -> Reply:
    """Run one operation in its own tenant-scoped transaction on the routed server."""
    try:
        transaction = RequestTransaction(route.sessions)
        async with transaction as session:
            try:
                principal = await authenticate(
                    session, state.security, creds, read_only=route.replica
                )
            except (Unauthenticated, Forbidden) as exc:
                await transaction.rollback()
                if route.replica:
                    raise _ReplicaMiss from exc
                return await _refused_caller(state, creds.ip, exc)
            except ParleyError as exc:
                await transaction.rollback()
                return await _refused_caller(state, creds.ip, exc)
            request_context.update(workspace_id=principal.workspace_id)
            context = Context(
                state=state,
                session=session,
                principal=principal,
                user_agent=request.headers.get("user-agent"),
                origin=request.headers.get("origin"),
            )
            context.guard.may_overlap = guards.refusals.may_overlap(refusal_key)
            try:
                op, remember = await _document(state, guards, principal, op)
                result = await _run(schema, context, op, request.method)
                if (lost := _database_lost(result)) is not None:
                    # The connection died under a resolver: answer like any other outage
                    # (503, or the primary for a replica read), not as a masked bug.
                    raise lost
            except RequestError as exc:
                decision = await _charge_one(context)
                await transaction.rollback()
                headers = {**(rate_limit_headers(decision) if decision else {}), **exc.headers}
                return Reply(exc.body(), exc.status_for(media), headers)
            guard = context.guard
            if guard.decision is None and not guard.executed:
                guard.decision = await _charge_one(context)
            committed = _should_commit(result)
            if committed:
                await context.jobs.stage(session)
                await transaction.commit()
                await announced(session)
                await context.jobs.deliver(
                    state.queue, session, state.settings.outbox.enqueue_timeout_s
                )
            else:
                await transaction.rollback()
                context.jobs.discard()
    except Exception as exc:
        if route.replica and database_unreachable(exc):
            raise _ReplicaMiss from exc
        raise
    if committed and route.writes:
        await state.router.wrote(route.sticky_key)
    if route.replica:
        await state.router.after_replica_read(principal)
    if remember and op.query and guard.executed and not result.errors:
        await guards.persisted.remember(state.limiter.redis, remember, op.query)
    headers = dict(context.response_headers)
    if guard.decision is not None:
        headers.update(rate_limit_headers(guard.decision))
        guards.refusals.remember(refusal_key, guard.decision)
    status = _status_for(result, media)
    if status in (429, 503) and "Retry-After" not in headers and result.errors:
        retry = (result.errors[0].extensions or {}).get("retryAfter")
        headers["Retry-After"] = str(retry or 1)
    return Reply(_body(result, context), status, headers)


async def _execute(
    state: AppState,
    schema: Any,
    guards: Guards,
    request: Request[Any, Any, Any],
    op: GraphQLRequest,
    media: str,
    kind: str,
    ip: str | None,
) -> Reply:
    try:
        creds = Credentials(
            bearer=_bearer(request),
            workspace_id=_workspace_header(request),
            origin=request.headers.get("origin"),
            ip=ip,
        )
    except ParleyError as exc:
        return await _refused_caller(state, ip, exc)
    refusal_key = credential_key(creds.bearer, request.headers.get("x-workspace-id"), ip)
    if (standing := guards.refusals.check(refusal_key)) is not None:
        # Refused moments ago and still out of budget: refuse again without any work.
        return _error_reply(ratelimit.refusal(standing), rate_limit_headers(standing))
    route = await state.router.route(kind, creds.bearer, state.security)
    try:
        return await _attempt(state, schema, guards, request, op, media, creds, route, refusal_key)
    except _ReplicaMiss as miss:
        log.info("replica could not serve the request; retrying on the primary: %s", miss.__cause__)
        security_events.discard_pending()
        route = state.router.primary_route(route, reason="replica_fallback")
        return await _attempt(state, schema, guards, request, op, media, creds, route, refusal_key)


def _codes(body: Any) -> list[str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return [str((e.get("extensions") or {}).get("code", INTERNAL)) for e in errors or []]


async def execute(
    state: AppState,
    schema: Any,
    guards: Guards,
    request: Request[Any, Any, Any],
    op: GraphQLRequest,
    media: str,
) -> Reply:
    """Run one operation: routed to the primary or a replica, timed, counted, with the
    security events it caused recorded after it."""
    kind = operation_kind(op.query, op.operation_name, state.settings.api.max_tokens)
    ip = client_ip(request, state.settings.api.trusted_proxies)
    request_context.update(operation=op.operation_name, client_ip=ip)
    started = time.perf_counter()
    codes = [INTERNAL]
    outcome = "internal"
    try:
        async with security_events.recording(state.sessions):
            reply = await _execute(state, schema, guards, request, op, media, kind, ip)
        codes = _codes(reply.body)
        if not codes:
            outcome = "ok"
        elif INTERNAL in codes:
            outcome = "internal"
        elif reply.status >= 400 and "data" not in reply.body:
            outcome = "rejected"
        else:
            outcome = "error"
        return reply
    except ParleyError as exc:
        codes, outcome = [exc.code.value], "rejected"
        raise
    except RequestError as exc:
        codes, outcome = [exc.code], "rejected"
        raise
    finally:
        metrics.graphql_operation(
            op.operation_name, kind, outcome, time.perf_counter() - started, codes
        )


def _database_lost(result: ExecutionResult) -> BaseException | None:
    return next(
        (lost for error in result.errors or [] if (lost := lost_database(error)) is not None),
        None,
    )


async def _ip_headers(state: AppState, request: Request[Any, Any, Any]) -> dict[str, str]:
    ip = client_ip(request, state.settings.api.trusted_proxies)
    decision = await ratelimit.charge_client_ip(state.limiter, ip, state.settings)
    return rate_limit_headers(decision) if decision else {}


async def _serve(
    state: AppState,
    schema: Any,
    guards: Guards,
    request: Request[Any, Any, Any],
    media: str | None,
) -> Reply:
    if media is None:
        raise RequestError(
            406,
            "Accept application/graphql-response+json or application/json.",
            code="NOT_ACCEPTABLE",
        )
    check_csrf(request)
    api = state.settings.api
    parsed = await parse_request(
        request,
        api.max_batch,
        api.max_body_bytes,
        max_files=state.settings.knowledge.max_files_per_request,
    )
    if isinstance(parsed, list):
        replies = [await execute(state, schema, guards, request, op, media) for op in parsed]
        return Reply([r.body for r in replies], 200, replies[-1].headers)
    return await execute(state, schema, guards, request, parsed, media)


def _failure(exc: Exception) -> Reply:
    """Expected errors as themselves, an unreachable database as 503, anything else masked."""
    if isinstance(exc, ParleyError):
        return _error_reply(exc)
    if database_unreachable(exc):
        metrics.db_unavailable()
        log.error("database unavailable: %s", exc)
        return _error_reply(DATABASE_UNAVAILABLE, {"Retry-After": "5"})
    log.error("unexpected error in /graphql", exc_info=exc)
    body = {"errors": [{"message": "Unexpected error.", "extensions": {"code": INTERNAL}}]}
    return Reply(body, 500)


async def handle(
    state: AppState, schema: Any, guards: Guards, request: Request[Any, Any, Any]
) -> Response[bytes]:
    """Parse, authenticate, execute, commit, respond: with clean errors for every failure."""
    negotiated = negotiate(request.headers.get("accept"))
    media = negotiated or JSON
    try:
        reply = await _serve(state, schema, guards, request, negotiated)
    except RequestError as exc:
        headers = {**await _ip_headers(state, request), **exc.headers}
        reply = Reply(exc.body(), exc.status_for(media), headers)
    except Exception as exc:
        reply = _failure(exc)
    return _respond(media, reply)


def build_guards(settings: Settings) -> Guards:
    """The APQ store and the widget allowlist for this deployment."""
    api = settings.api
    directory = Path(api.widget_operations_dir) if api.widget_operations_dir else WIDGET_OPERATIONS
    allowlist = Allowlist(directory, api.max_tokens)
    if not len(allowlist):
        log.warning("no widget operations in %s: publishable keys can run nothing", directory)
    persisted = PersistedQueries(
        settings.redis.key_prefix, api.persisted_query_ttl_s, api.persisted_query_max_bytes
    )
    return Guards(persisted, allowlist, RefusalCache())


def graphql_controller(
    schema: Any, settings: Settings, max_body_bytes: int | None = None
) -> type[Controller]:
    """The controller serving /graphql for this schema. `max_body_bytes` raises the body
    limit of POST for multipart uploads (JSON bodies keep API_MAX_BODY_BYTES)."""
    ide_html = get_graphql_ide_html("graphiql") if settings.graphiql_enabled else None
    guards = build_guards(settings)

    class GraphQLController(Controller):
        path = "/graphql"

        @get(include_in_schema=False)
        async def graphql_get(self, request: Request[Any, Any, Any]) -> Response[Any]:
            accept = request.headers.get("accept", "")
            if ide_html and "text/html" in accept and "query" not in request.query_params:
                return Response(content=ide_html, media_type="text/html")
            return await handle(request.app.state.parley, schema, guards, request)

        @post(include_in_schema=False, status_code=200, request_max_body_size=max_body_bytes)
        async def graphql_post(self, request: Request[Any, Any, Any]) -> Response[bytes]:
            return await handle(request.app.state.parley, schema, guards, request)

    return GraphQLController
