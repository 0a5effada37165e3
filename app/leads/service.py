"""Lead rules: captured only with consent, one per email per workspace, managed by the team."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.assistant import service as conversations
from app.db.ids import uuid7
from app.errors import Forbidden, NotFound, ValidationFailed
from app.leads import repository
from app.leads.models import LEAD_STATUSES, Lead
from app.pagination import Page, PageRequest, make_page
from app.validation import clean_email, clean_text
from tenancy.audit import service as audit
from tenancy.principal import Principal, PrincipalKind, Role

EXPORT_LIMIT = 10_000
_PHONE = re.compile(r"^\+?[0-9 ().-]{5,40}$")


@dataclass(frozen=True, slots=True)
class LeadInput:
    """What a visitor submits."""

    email: str
    consent: bool
    name: str | None = None
    phone: str | None = None
    company: str | None = None
    message: str | None = None
    conversation_id: uuid.UUID | None = None


def _optional(value: str | None, field: str, max_length: int) -> str | None:
    if value is None or not value.strip():
        return None
    return clean_text(value, field=field, max_length=max_length)


async def capture(session: AsyncSession, principal: Principal, data: LeadInput) -> Lead:
    """Record a visitor's details. Consent is required; a known email updates its lead."""
    if principal.kind is not PrincipalKind.VISITOR or principal.workspace_id is None:
        raise Forbidden("Leads are submitted from the widget.")
    if data.consent is not True:
        raise ValidationFailed("Consent is required to store contact details.", field="consent")
    phone = _optional(data.phone, "phone", 40)
    if phone is not None and not _PHONE.match(phone):
        raise ValidationFailed("phone is not a valid phone number.", field="phone")
    if data.conversation_id is not None and (
        await conversations.get_conversation(session, principal, data.conversation_id) is None
    ):
        # Only the visitor's own conversation may be linked: an id from another workspace
        # (or another visitor) would otherwise be stored and shown to this workspace's team.
        raise NotFound("No such conversation.", field="conversationId")
    now = dt.datetime.now(dt.UTC)
    lead, created = await repository.upsert(
        session,
        {
            "workspace_id": principal.workspace_id,
            "id": uuid7(),
            "email": clean_email(data.email),
            "name": _optional(data.name, "name", 200),
            "phone": phone,
            "company": _optional(data.company, "company", 200),
            "message": _optional(data.message, "message", 5_000),
            "consent_at": now,
            "conversation_id": data.conversation_id,
            "visitor_id": principal.visitor_id,
            "key_id": principal.key_id,
        },
    )
    if created:
        await audit.record(
            session, principal, "lead.captured", target_type="lead", target_id=lead.id
        )
    return lead


async def list_leads(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    status: str | None,
    search: str | None,
) -> Page[Lead]:
    """The workspace's leads, newest first, optionally filtered (team members)."""
    workspace_id = principal.require_role(Role.MEMBER)
    status = _status(status) if status else None
    search = clean_text(search, field="search", max_length=200) if search else None
    rows = await repository.list_page(session, workspace_id, page, status=status, search=search)
    return make_page(rows, page)


def _status(value: str) -> str:
    if value not in LEAD_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(LEAD_STATUSES)}.", field="status")
    return value


async def update_status(
    session: AsyncSession,
    principal: Principal,
    *,
    lead_id: uuid.UUID,
    status: str,
    note: str | None,
) -> Lead:
    """Move a lead along the pipeline (team members)."""
    workspace_id = principal.require_role(Role.MEMBER)
    lead = await repository.get(session, workspace_id, lead_id)
    if lead is None:
        raise NotFound("No such lead.")
    status = _status(status)
    note = (
        clean_text(note, field="note", max_length=5_000, min_length=0) if note is not None else None
    )
    await repository.set_status(
        session, workspace_id, lead_id, status, note, dt.datetime.now(dt.UTC)
    )
    await session.refresh(lead)
    return lead


_CSV_COLUMNS = (
    "email",
    "name",
    "phone",
    "company",
    "message",
    "status",
    "note",
    "created_at",
    "consent_at",
)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets execute cells starting with these characters as formulas.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


async def export_csv(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    search: str | None,
) -> str:
    """Leads as CSV (at most 10,000 rows), with formula injection neutralised (admins)."""
    workspace_id = principal.require_role(Role.ADMIN)
    status = _status(status) if status else None
    rows = await repository.list_all(
        session, workspace_id, status=status, search=search, limit=EXPORT_LIMIT
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    for lead in rows:
        writer.writerow([_cell(getattr(lead, col)) for col in _CSV_COLUMNS])
    await audit.record(session, principal, "leads.exported", details={"rows": len(rows)})
    return out.getvalue()
