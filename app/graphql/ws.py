"""The WebSocket endpoint at /graphql: subscriptions over graphql-transport-ws.

Strawberry's protocol handler does the protocol; this module supplies what it needs around
it: authentication at `connection_init` (the payload carries the same credentials as HTTP:
`{"authorization": "Bearer …", "workspaceId": "…"}`, checked by `tenancy.auth.authenticate`
inside a short transaction), a per-connection context with no open transaction, and the rule
that only subscriptions run here (queries and mutations go over HTTP, where the
one-transaction-per-request commit rule lives). Publishable keys and widget visitors are held
to the widget's allowlist here as over HTTP. Per-socket limits (operations per socket, the
connection_init wait) belong in this module too, and so does the cap on sockets per caller
(tenancy/ratelimit/sockets.py), taken at `connection_init` and freed when the socket closes.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any, cast

import orjson
from graphql import GraphQLError
from litestar import WebSocket, websocket
from litestar.handlers import WebsocketRouteHandler
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.async_base_view import AsyncBaseHTTPView
from strawberry.litestar.controller import LitestarWebSocketAdapter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType
from strawberry.utils.aio import aclosing

from app.errors import ParleyError, ValidationFailed
from app.graphql.errors import format_error, log_errors
from app.graphql.node import from_global_id
from app.graphql.persisted import Allowlist
from app.graphql.socket import SocketContext
from app.http.client import client_ip
from app.state import AppState
from tenancy.auth import Credentials, authenticate
from tenancy.principal import PrincipalKind
from tenancy.ratelimit import service as ratelimit
from tenancy.ratelimit.sockets import take_seat

log = logging.getLogger("parley.graphql.ws")

CONNECTION_INIT_TIMEOUT = dt.timedelta(seconds=10)
MAX_OPERATIONS_PER_SOCKET = 20


def _credentials(params: dict[str, Any], origin: str | None, ip: str | None) -> Credentials:
    header = params.get("authorization") or params.get("Authorization") or ""
    if not isinstance(header, str):
        raise ValidationFailed("authorization must be a string.", field="authorization")
    scheme, _, token = header.partition(" ")
    if header and (scheme.lower() != "bearer" or not token.strip()):
        raise ValidationFailed("authorization must be 'Bearer <token>'.", field="authorization")
    raw_workspace = params.get("workspaceId")
    workspace_id: uuid.UUID | None = None
    if raw_workspace:
        if not isinstance(raw_workspace, str):
            raise ValidationFailed("workspaceId must be a string.", field="workspaceId")
        try:
            workspace_id = uuid.UUID(raw_workspace)
        except ValueError:
            workspace_id = from_global_id(raw_workspace, expected="Workspace", field="workspaceId")[
                1
            ]
    return Credentials(
        bearer=token.strip() or None, workspace_id=workspace_id, origin=origin, ip=ip
    )


class _Socket(LitestarWebSocketAdapter):
    """Strawberry's adapter, closing a refused connection with the refusal's own reason
    instead of a bare "Forbidden"."""

    def __init__(self, view: Any, socket: WebSocket[Any, Any, Any], context: SocketContext):
        super().__init__(view, socket, socket)
        self.context = context

    async def close(self, code: int, reason: str) -> None:
        """Close with `reason`, or with the refusal noted at connection_init."""
        refusal = self.context.refusal
        # A close frame's reason holds at most 123 bytes.
        await super().close(code, (refusal or reason).encode()[:123].decode(errors="ignore"))


class SocketView:
    """The part of a Strawberry view that the protocol handler calls back into."""

    def __init__(self, state: AppState, origin: str | None, ip: str | None) -> None:
        self.state = state
        self.origin = origin
        self.ip = ip

    def decode_json(self, data: str | bytes) -> object:
        """Parse an incoming frame."""
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        """Serialise an outgoing frame."""
        return orjson.dumps(data).decode()

    async def on_ws_connect(self, context: SocketContext) -> UnsetType | dict[str, object]:
        """Authenticate the `connection_init` payload; reject the socket when it fails."""
        try:
            creds = _credentials(context.connection_params, self.origin, self.ip)
            async with self.state.sessions() as session, session.begin():
                principal = await authenticate(session, self.state.security, creds)
            seat = await take_seat(self.state.limiter, principal, self.state.settings.ratelimit)
        except ParleyError as exc:
            log.info("websocket connection refused: %s", exc.message)
            # graphql-transport-ws refuses with close code 4403; the reason says why.
            context.refusal = exc.message
            raise ConnectionRejectionError(
                {"message": exc.message, "code": exc.code.value}
            ) from exc
        if principal.kind is PrincipalKind.ANONYMOUS:
            raise ConnectionRejectionError(
                {"message": "Send credentials in connection_init.", "code": "UNAUTHENTICATED"}
            )
        context.principal = principal
        if seat is not None:
            context.hold(seat)
        unset: UnsetType = UNSET
        return unset


async def _formatted(results: Any) -> Any:
    """The stream's results with their errors formatted as over HTTP (`extensions.code`,
    unexpected ones masked and logged): the ErrorFormatter extension sees only the first."""
    async for result in results:
        if getattr(result, "errors", None):
            log_errors(result.errors)
            result.errors = [format_error(e, hide_suggestions=True) for e in result.errors]
        yield result


WIDGET_KINDS = frozenset({PrincipalKind.PUBLISHABLE_KEY, PrincipalKind.VISITOR})
NOT_IN_LIST = "This credential may only run the widget's persisted operations."


class SubscriptionsOnlyHandler(BaseGraphQLTransportWSHandler[SocketContext, None]):
    """graphql-transport-ws, with queries and mutations refused (they run over HTTP)."""

    allowlist: Allowlist | None = None

    def _refused(self, operation: Operation[SocketContext, None]) -> bool:
        """True when a widget credential sends a document outside the widget's allowlist."""
        principal = self.context.principal
        if principal is None or principal.kind not in WIDGET_KINDS:
            return False
        return self.allowlist is None or not self.allowlist.allows(operation.query)

    async def _charge(self) -> GraphQLError | None:
        """Charge one point to the caller's budgets for starting a subscription, as a small
        request over HTTP would be; the refusal to send instead of running, if any."""
        context = self.context
        state = context.state
        principal = context.require_principal()
        try:
            decision = await ratelimit.admit_with(
                context.transaction, state.limiter, principal, state.settings, points=1
            )
        except ParleyError as exc:  # no decision possible (Redis down for a widget caller)
            return GraphQLError(exc.message, extensions=exc.as_extensions())
        if decision is None or decision.allowed:
            return None
        error = ratelimit.refusal(decision)
        return GraphQLError(error.message, extensions=error.as_extensions())

    async def run_operation(self, operation: Operation[SocketContext, None]) -> None:
        """Like the base handler, but allowing only subscription operations (and, for widget
        credentials, only the allowlisted ones)."""
        if self._refused(operation):
            error = GraphQLError(NOT_IN_LIST, extensions={"code": "PERSISTED_QUERY_NOT_IN_LIST"})
            await operation.send_initial_errors([error])
            return
        if (refused := await self._charge()) is not None:
            await operation.send_initial_errors([refused])
            return
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
                allowed_operation_types={OperationType.SUBSCRIPTION},
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, _formatted(result_source))
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise


def websocket_route(
    schema: Any, allowlist: Allowlist, path: str = "/graphql"
) -> WebsocketRouteHandler:
    """The Litestar WebSocket handler serving `schema`'s subscriptions at `path`; widget
    credentials may run only `allowlist`'s documents."""

    @websocket(path, include_in_schema=False)
    async def graphql_ws(socket: WebSocket[Any, Any, Any]) -> None:
        state: AppState = socket.app.state.parley
        offered = socket.scope.get("subprotocols") or []
        if GRAPHQL_TRANSPORT_WS_PROTOCOL not in offered:
            await socket.close(code=4406, reason="Subprotocol not acceptable")
            return
        await socket.accept(subprotocols=GRAPHQL_TRANSPORT_WS_PROTOCOL)
        ip = client_ip(socket, state.settings.api.trusted_proxies)
        view = SocketView(state, socket.headers.get("origin"), ip)
        context = SocketContext(state=state, ip=ip)
        adapter = _Socket(
            cast("AsyncBaseHTTPView[Any, Any, Any, Any, Any, Any, Any]", view), socket, context
        )
        handler = SubscriptionsOnlyHandler(
            view=cast("AsyncBaseHTTPView[Any, Any, Any, Any, Any, SocketContext, None]", view),
            websocket=adapter,
            context=context,
            root_value=None,
            schema=schema,
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
            max_subscriptions_per_connection=MAX_OPERATIONS_PER_SOCKET,
        )
        handler.allowlist = allowlist
        try:
            await handler.handle()
        finally:
            await context.release()

    return graphql_ws
