"""Caps on open WebSocket connections per caller.

Each socket holds a seat: a lease in a Redis sorted set per caller (the same slots as
concurrent model calls, `slots.lua`), so every API process counts the same sockets. The
lease is renewed while the socket stays open and released when it closes; a process that
dies leaves seats that free themselves after RATELIMIT_SOCKET_LEASE_S.

A widget visitor (or, without a visitor token, the client IP under a publishable key) may hold
RATELIMIT_SOCKETS_PER_VISITOR sockets; a user or a secret key RATELIMIT_SOCKETS_PER_CALLER.
While Redis is unreachable, widget sockets are refused (as widget calls are over HTTP) and
the others are let in uncounted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from app.config import RateLimitSettings
from app.errors import RateLimited
from tenancy.principal import Principal, PrincipalKind
from tenancy.ratelimit.limiter import LimiterUnavailable, RateLimiter
from tenancy.ratelimit.policy import is_widget, workspace_tag

log = logging.getLogger(__name__)


def socket_owner(principal: Principal, prefix: str) -> str | None:
    """The key counting this caller's sockets (None: not counted, e.g. a system caller)."""
    workspace_id = principal.workspace_id
    if is_widget(principal) and workspace_id is not None:
        visitor = principal.visitor_id or f"ip:{principal.ip or 'unknown'}"
        return f"{workspace_tag(prefix, workspace_id)}:ws:visitor:{principal.key_id}:{visitor}"
    if principal.kind is PrincipalKind.USER and principal.user_id is not None:
        return f"{prefix}{{user:{principal.user_id}}}:ws"
    if principal.kind is PrincipalKind.SECRET_KEY and workspace_id and principal.key_id:
        return f"{workspace_tag(prefix, workspace_id)}:ws:key:{principal.key_id}"
    return None


@dataclass
class SocketSeat:
    """One open socket's seat; `keep()` renews it until cancelled, `release()` frees it."""

    limiter: RateLimiter
    key: str
    token: str
    lease_ms: int

    async def keep(self) -> None:
        """Renew the lease every third of its length while the socket is open."""
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            held = await self.limiter.renew_slot(self.key, self.token, self.lease_ms)
            if held is False:
                # Lapsed (Redis lost it, or a long stall): take it back if there is room,
                # without closing a socket that is already open.
                token = await _retake(self.limiter, self.key, self.lease_ms)
                if token is not None:
                    self.token = token

    async def release(self) -> None:
        """Free the seat."""
        await self.limiter.release_slot(self.key, self.token)


async def take_seat(
    limiter: RateLimiter, principal: Principal, settings: RateLimitSettings
) -> SocketSeat | None:
    """A seat for a new socket of `principal`, or None when sockets are not counted (rate
    limiting off, a caller without a key, Redis down for a non-widget caller).

    Raises RATE_LIMITED when the caller already holds its cap, UNAVAILABLE for widget
    callers while Redis is unreachable.
    """
    if not settings.enabled:
        return None
    key = socket_owner(principal, limiter.prefix)
    if key is None:
        return None
    widget = is_widget(principal)
    cap = settings.sockets_per_visitor if widget else settings.sockets_per_caller
    lease_ms = settings.socket_lease_s * 1000
    try:
        token = await limiter.take_slot(key, cap, lease_ms)
    except LimiterUnavailable:
        if widget:
            raise
        log.warning("socket cap not enforced: the rate limiter is unavailable")
        return None
    if token is None:
        who = "visitor" if widget else "caller"
        raise RateLimited(
            f"Too many open connections: a {who} may hold {cap} at once. Close one first.",
            limit="sockets",
            quota=cap,
            retryAfter=1,
        )
    return SocketSeat(limiter, key, token, lease_ms)


async def _retake(limiter: RateLimiter, key: str, lease_ms: int) -> str | None:
    try:
        # No cap: the socket is already open and only needs counting again.
        return await limiter.take_slot(key, 1 << 30, lease_ms)
    except LimiterUnavailable:
        return None
