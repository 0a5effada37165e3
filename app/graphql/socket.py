"""The context of GraphQL operations over the WebSocket endpoint (subscriptions).

Unlike an HTTP request, a socket holds no transaction: its principal is authenticated once,
at `connection_init`, and each subscription opens short tenant-scoped transactions of its own
when it needs the database, so an idle stream never holds a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info as StrawberryInfo

from app.db.tenant import tenant_transaction
from app.errors import Unauthenticated
from app.state import AppState
from tenancy.principal import Principal
from tenancy.ratelimit.sockets import SocketSeat


@dataclass
class SocketContext:
    """Per connection: the app's state and, once initialised, who is connected."""

    state: AppState
    principal: Principal | None = None
    connection_params: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None
    seat: SocketSeat | None = None
    refusal: str | None = None  # why connection_init was refused (the close frame's reason)
    _keeper: asyncio.Task[None] | None = None

    def hold(self, seat: SocketSeat) -> None:
        """Keep `seat` (this socket's place in its caller's cap) until `release()`."""
        self.seat = seat
        self._keeper = asyncio.create_task(seat.keep())

    async def release(self) -> None:
        """The socket closed: stop renewing its seat and free it."""
        if self._keeper is not None:
            self._keeper.cancel()
            self._keeper = None
        if self.seat is not None:
            seat, self.seat = self.seat, None
            await seat.release()

    def require_principal(self) -> Principal:
        """The authenticated caller (connection_init succeeded)."""
        if self.principal is None:
            raise Unauthenticated("Send connection_init with your credentials first.")
        return self.principal

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A short transaction scoped to the caller's workspace."""
        principal = self.require_principal()
        async with tenant_transaction(
            self.state.sessions, principal.workspace_id, principal.user_id
        ) as session:
            yield session


SocketInfo = StrawberryInfo[SocketContext, None]
