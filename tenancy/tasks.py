"""arq jobs of the tenancy domain."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from typing import Any

from arq import cron

from app.state import AppState

log = logging.getLogger(__name__)


def _send(state: AppState, to: str, subject: str, body: str) -> None:
    email = state.settings.email
    assert email.smtp_host
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(email.smtp_host, email.smtp_port, timeout=20) as smtp:
        smtp.send_message(message)


async def send_invitation_email(
    ctx: dict[str, Any], workspace_id: str, invitation_id: str, token: str
) -> None:
    """Email an invitation. Loads the invitation under its workspace's tenant, so a job with
    a forged workspace id finds nothing and sends nothing."""
    import uuid

    from app.db.tenant import tenant_transaction
    from tenancy.workspaces import repository

    state: AppState = ctx["state"]
    async with tenant_transaction(state.sessions, uuid.UUID(workspace_id)) as session:
        invitation = await repository.get_invitation(
            session, uuid.UUID(workspace_id), uuid.UUID(invitation_id)
        )
        workspace = await repository.get_workspace(session, uuid.UUID(workspace_id))
    if invitation is None or workspace is None or invitation.accepted_at or invitation.revoked_at:
        log.info(
            "invitation no longer pending; not emailed", extra={"invitation_id": invitation_id}
        )
        return
    body = (
        f"You have been invited to join {workspace.name} on Parley.\n\n"
        f"Accept with this token: {token}\n\n"
        f"It expires at {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    await asyncio.to_thread(
        _send, state, invitation.email, f"Join {workspace.name} on Parley", body
    )


async def purge_expired_records(ctx: dict[str, Any]) -> dict[str, int]:
    """Retention: delete audit events older than AUDIT_RETENTION_DAYS in every workspace and
    security events older than AUDIT_SECURITY_EVENTS_RETENTION_DAYS.

    Workspace ids come from the maintenance role (app/db/maintenance.py); each workspace is
    then purged in its own short transactions with its tenant set, so RLS applies to the
    deletes exactly as to a request. Safe to run twice or concurrently: a second run finds
    nothing left to delete.
    """
    import datetime as dt
    import time

    from app.db.maintenance import all_workspace_ids
    from app.db.tenant import tenant_transaction
    from tenancy.audit import service as audit
    from tenancy.security_events import service as security_events

    state: AppState = ctx["state"]
    settings = state.settings
    batch = 5_000
    audit_cutoff = time.time() - settings.audit.retention_days * 86_400
    audit_rows = workspaces = 0
    async for workspace_id in all_workspace_ids(state.sessions, settings.database.maintenance_role):
        workspaces += 1
        while True:
            async with tenant_transaction(state.sessions, workspace_id) as session:
                deleted = await audit.purge_expired(session, workspace_id, audit_cutoff, batch)
            audit_rows += deleted
            if deleted < batch:
                break
    security_cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(
        days=settings.audit.security_events_retention_days
    )
    security_rows = 0
    while True:
        async with tenant_transaction(state.sessions, None) as session:
            deleted = await security_events.purge_expired(session, security_cutoff, batch)
        security_rows += deleted
        if deleted < batch:
            break
    log.info(
        "retention purge done",
        extra={
            "workspaces": workspaces,
            "audit_rows_deleted": audit_rows,
            "security_events_deleted": security_rows,
        },
    )
    return {
        "workspaces": workspaces,
        "audit_rows": audit_rows,
        "security_events": security_rows,
    }


FUNCTIONS = [send_invitation_email]
CRON_JOBS: list[Any] = [
    # Daily at 03:17 (off the hour, when other crons crowd); unique: one worker runs it.
    # An hour's timeout is fine on the cron queue's own worker (app/worker.py): arq leases
    # every job of a worker for its longest timeout + 10 s, which no answer job shares.
    cron(purge_expired_records, hour={3}, minute={17}, unique=True, timeout=3600),
]
