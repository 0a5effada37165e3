"""Recording security events, including those of requests that fail.

A refused log-in or cross-tenant attempt raises an error, and the request's transaction rolls
back, taking anything written in it along. So the places that detect these events only *note*
them (and count them in metrics, and log them); `recording()`, which the GraphQL endpoint
wraps around each request, stores what was noted afterwards in a transaction of its own,
whatever became of the request's.

Where they go:
- every event goes to the global `security_events` table (operators);
- a refused cross-tenant attempt is also written to the audit log of the workspace it aimed
  at, when that workspace exists, so that workspace's admins see who tried;
- a failed log-in goes only to `security_events`: it concerns an account, not a workspace,
  and copying it into the workspaces of whichever account an email names would let anyone
  fill those audit logs by typing that email. The typed email is never stored; the account's
  id is, when the email names one.
- a refused widget origin is counted and logged only: any website can produce it at will, so
  storing it would hand strangers a way to fill the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.ids import uuid7
from app.db.tenant import set_tenant, tenant_transaction
from app.observability import context as request_context
from app.observability import metrics
from tenancy.audit import repository as audit_repository
from tenancy.audit.models import AuditEvent
from tenancy.security_events import repository
from tenancy.security_events.models import SecurityEvent

log = logging.getLogger(__name__)

LOGIN_FAILED = "login_failed"
CROSS_TENANT_REFUSED = "cross_tenant_refused"
AUDIT_ACTION_CROSS_TENANT = "access.cross_tenant_refused"


@dataclass(frozen=True, slots=True)
class Noted:
    """An event waiting for the end of its request."""

    kind: str
    user_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    target_workspace_id: uuid.UUID | None = None
    user_agent: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None
    request_id: str | None = None


ORIGIN_REFUSED = "origin_refused"
_pending: ContextVar[list[Noted] | None] = ContextVar("parley_security_events", default=None)


def _emit(event: Noted) -> None:
    """Count and log one event (once per request: a retried request discards its first try's
    events before they get here)."""
    if event.kind == LOGIN_FAILED:
        metrics.login_failed()
        log.warning(
            "failed log-in",
            extra={
                "event": LOGIN_FAILED,
                "user_id": str(event.user_id) if event.user_id else None,
            },
        )
    elif event.kind == CROSS_TENANT_REFUSED:
        metrics.cross_tenant_refused(str(event.details.get("credential")))
        log.warning(
            "refused cross-tenant attempt",
            extra={
                "event": CROSS_TENANT_REFUSED,
                "credential": event.details.get("credential"),
                "target_workspace_id": str(event.target_workspace_id),
            },
        )
    elif event.kind == ORIGIN_REFUSED:
        metrics.origin_refused()
        log.warning("refused origin", extra={"event": ORIGIN_REFUSED, **event.details})


def _note(event: Noted) -> None:
    pending = _pending.get()
    if pending is None:  # outside a request (a job, a script): now
        _emit(event)
    else:
        pending.append(event)


def _where() -> tuple[str | None, str | None]:
    current = request_context.current()
    return (current.client_ip, current.request_id) if current else (None, None)


def login_failed(*, user_id: uuid.UUID | None, user_agent: str | None) -> None:
    """A log-in with a wrong email or password (`user_id` when the email names an account)."""
    ip, request_id = _where()
    _note(
        Noted(
            LOGIN_FAILED,
            user_id=user_id,
            user_agent=(user_agent or "")[:400] or None,
            details={"known_account": user_id is not None},
            ip=ip,
            request_id=request_id,
        )
    )


def cross_tenant_refused(
    *,
    credential: str,
    target_workspace_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    key_id: uuid.UUID | None = None,
    key_workspace_id: uuid.UUID | None = None,
) -> None:
    """Credentials were presented for a workspace they do not belong to."""
    ip, request_id = _where()
    details: dict[str, Any] = {"credential": credential}
    if key_workspace_id is not None:
        details["key_workspace_id"] = str(key_workspace_id)
    _note(
        Noted(
            CROSS_TENANT_REFUSED,
            user_id=user_id,
            key_id=key_id,
            target_workspace_id=target_workspace_id,
            details=details,
            ip=ip,
            request_id=request_id,
        )
    )


def origin_refused(*, workspace_id: uuid.UUID, origin: str | None) -> None:
    """A publishable key was used from an origin it does not allow (counted and logged, not
    stored)."""
    _note(
        Noted(
            ORIGIN_REFUSED,
            details={"origin": (origin or "")[:300], "key_workspace_id": str(workspace_id)},
        )
    )


def discard_pending() -> None:
    """Forget what this request noted so far (it is being retried from the start)."""
    pending = _pending.get()
    if pending:
        pending.clear()


async def _store_one(session: AsyncSession, event: Noted) -> None:
    await repository.insert_event(
        session,
        SecurityEvent(
            id=uuid7(),
            kind=event.kind,
            user_id=event.user_id,
            key_id=event.key_id,
            target_workspace_id=event.target_workspace_id,
            ip=event.ip,
            user_agent=event.user_agent,
            request_id=event.request_id,
            details=event.details,
        ),
    )
    if event.kind == CROSS_TENANT_REFUSED and event.target_workspace_id is not None:
        await set_tenant(session, event.target_workspace_id)
        await audit_repository.insert_event_if_workspace_exists(
            session,
            AuditEvent(
                workspace_id=event.target_workspace_id,
                id=uuid7(),
                actor_type="key" if event.key_id and not event.user_id else "user",
                actor_id=event.user_id or event.key_id,
                action=AUDIT_ACTION_CROSS_TENANT,
                target_type="workspace",
                target_id=str(event.target_workspace_id),
                ip=event.ip,
                details=event.details,
            ),
        )
        await set_tenant(session, None)


async def store(sessions: async_sessionmaker[AsyncSession], events: list[Noted]) -> None:
    """Write noted events in a transaction of their own. Like a job, this owns its transaction
    (the request's may have rolled back). A failure is logged, never raised: losing a security
    record must not turn a refusal into a 500."""
    try:
        async with tenant_transaction(sessions, None) as session:
            for event in events:
                await _store_one(session, event)
    except Exception:
        log.exception("could not store %d security event(s)", len(events))


@asynccontextmanager
async def recording(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """Collect the events noted inside the block and store them when it ends, however it
    ends."""
    events: list[Noted] = []
    token = _pending.set(events)
    try:
        yield
    finally:
        _pending.reset(token)
        for event in events:
            _emit(event)
        stored = [event for event in events if event.kind != ORIGIN_REFUSED]
        if stored:
            await store(sessions, stored)


async def purge_expired(session: AsyncSession, older_than: dt.datetime, batch: int = 5_000) -> int:
    """Delete up to `batch` of the events from before `older_than`; returns how many went."""
    return await repository.delete_before(session, older_than, batch)
