"""Widget rules: per-key configuration edited by admins, and visitor sessions exchanged for a
publishable key from an allowed origin."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Forbidden, NotFound, ValidationFailed
from app.validation import clean_text
from app.widget import cache as widget_cache
from app.widget import repository
from app.widget.views import ConfigView
from tenancy.apikeys import repository as keys_repo
from tenancy.apikeys.models import ApiKey
from tenancy.apikeys.origins import normalize_origin
from tenancy.audit import service as audit
from tenancy.principal import Principal, PrincipalKind, Role
from tenancy.security import Security

LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "hi")
LEAD_FIELDS = ("name", "email", "phone", "company", "message")
POSITIONS = ("bottom-right", "bottom-left")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_SUGGESTIONS = 5


@dataclass(frozen=True, slots=True)
class ConfigInput:
    """Fields an admin may change; None keeps the current value."""

    title: str | None = None
    greeting: str | None = None
    primary_color: str | None = None
    position: str | None = None
    suggested_questions: list[str] | None = None
    lead_capture: bool | None = None
    lead_fields: list[str] | None = None
    language: str | None = None
    require_identity: bool | None = None


async def _publishable_key(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey:
    key = await keys_repo.get_key(session, workspace_id, key_id)
    if key is None or key.revoked_at is not None:
        raise NotFound("No such active key.")
    if key.kind != "publishable":
        raise ValidationFailed("The widget is configured on publishable keys.", field="keyId")
    return key


async def get_config(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ConfigView:
    """A key's widget configuration (team members)."""
    workspace_id = principal.require_role(Role.MEMBER)
    await _publishable_key(session, workspace_id, key_id)
    return ConfigView.of(key_id, await repository.get(session, workspace_id, key_id))


def _merge(current: ConfigView, data: ConfigInput) -> dict[str, object]:
    title = (
        clean_text(data.title, field="title", max_length=60)
        if data.title is not None
        else current.title
    )
    greeting = (
        clean_text(data.greeting, field="greeting", max_length=500)
        if data.greeting is not None
        else current.greeting
    )
    color = data.primary_color if data.primary_color is not None else current.primary_color
    if not _COLOR.match(color):
        raise ValidationFailed("primaryColor must look like #1a2b3c.", field="primaryColor")
    position = data.position if data.position is not None else current.position
    if position not in POSITIONS:
        raise ValidationFailed("position must be bottom-right or bottom-left.", field="position")
    questions = list(current.suggested_questions)
    if data.suggested_questions is not None:
        if len(data.suggested_questions) > MAX_SUGGESTIONS:
            raise ValidationFailed(
                f"At most {MAX_SUGGESTIONS} suggested questions.", field="suggestedQuestions"
            )
        questions = [
            clean_text(q, field="suggestedQuestions", max_length=120)
            for q in data.suggested_questions
        ]
    lead_fields = list(current.lead_fields)
    if data.lead_fields is not None:
        unknown = set(data.lead_fields) - set(LEAD_FIELDS)
        if unknown:
            raise ValidationFailed(
                f"Unknown lead fields: {', '.join(sorted(unknown))}.", field="leadFields"
            )
        lead_fields = ["email"] + [f for f in LEAD_FIELDS if f in data.lead_fields and f != "email"]
    language = data.language if data.language is not None else current.language
    if language not in LANGUAGES:
        raise ValidationFailed(f"language must be one of {', '.join(LANGUAGES)}.", field="language")
    return {
        "title": title,
        "greeting": greeting,
        "primary_color": color.lower(),
        "position": position,
        "suggested_questions": questions,
        "lead_capture": current.lead_capture if data.lead_capture is None else data.lead_capture,
        "lead_fields": lead_fields,
        "language": language,
        "require_identity": current.require_identity
        if data.require_identity is None
        else data.require_identity,
        "identity_secret_version": current.identity_secret_version,
    }


async def update_config(
    session: AsyncSession, principal: Principal, key_id: uuid.UUID, data: ConfigInput
) -> ConfigView:
    """Change a key's widget (admins)."""
    workspace_id = principal.require_role(Role.ADMIN)
    await _publishable_key(session, workspace_id, key_id)
    current = ConfigView.of(key_id, await repository.get(session, workspace_id, key_id))
    values = _merge(current, data)
    row = await repository.upsert(
        session, {"workspace_id": workspace_id, "key_id": key_id, **values}
    )
    await audit.record(
        session, principal, "widget.configured", target_type="api_key", target_id=key_id
    )
    widget_cache.forget(session, workspace_id, key_id)
    return ConfigView.of(key_id, row)


async def identity_secret(
    session: AsyncSession,
    security: Security,
    principal: Principal,
    key_id: uuid.UUID,
    *,
    rotate: bool = False,
) -> str:
    """The secret the customer's server signs visitor identities with (admins). Rotating it
    makes every earlier signature invalid."""
    workspace_id = principal.require_role(Role.ADMIN)
    await _publishable_key(session, workspace_id, key_id)
    current = ConfigView.of(key_id, await repository.get(session, workspace_id, key_id))
    if rotate:
        if await repository.get(session, workspace_id, key_id) is None:
            await repository.upsert(
                session,
                {"workspace_id": workspace_id, "key_id": key_id, **_merge(current, ConfigInput())},
            )
        await repository.bump_identity_version(session, workspace_id, key_id)
        widget_cache.forget(session, workspace_id, key_id)
        await audit.record(
            session,
            principal,
            "widget.identity_secret_rotated",
            target_type="api_key",
            target_id=key_id,
        )
        current = ConfigView.of(key_id, await repository.get(session, workspace_id, key_id))
    return security.visitor_tokens.identity_secret(key_id, current.identity_secret_version)


@dataclass(frozen=True, slots=True)
class Identity:
    """A visitor identity asserted by the customer's page."""

    user_id: str
    signature: str


@dataclass(frozen=True, slots=True)
class VisitorSession:
    """What the widget receives when it starts."""

    token: str
    expires_at: dt.datetime
    visitor_id: str
    identified: bool
    config: ConfigView


async def start_session(
    session: AsyncSession,
    security: Security,
    principal: Principal,
    *,
    origin: str | None,
    visitor_id: str | None,
    identity: Identity | None,
) -> VisitorSession:
    """Exchange a publishable key (already checked against the request's Origin) for a
    visitor token. A visitor id from an earlier session is kept only if this server signed it;
    an identity counts only if the customer's server signed it; anything else is ignored."""
    if principal.kind is not PrincipalKind.PUBLISHABLE_KEY or principal.key_id is None:
        raise Forbidden("Start widget sessions with a publishable key.")
    workspace_id = principal.require_workspace()
    config = await widget_cache.config(session, workspace_id, principal.key_id)
    tokens = security.visitor_tokens
    identified = False
    if identity is not None and tokens.verify_identity(
        principal.key_id, config.identity_secret_version, identity.user_id, identity.signature
    ):
        vid = tokens.identified_visitor_id(workspace_id, identity.user_id)
        identified = True
    elif config.require_identity:
        raise Forbidden("This widget needs a signed visitor identity.")
    elif visitor_id and tokens.verify_visitor_id(workspace_id, visitor_id):
        vid = visitor_id
    else:
        vid = tokens.new_visitor_id(workspace_id)
    bound_origin = normalize_origin(origin or "", field="Origin")
    token, expires = tokens.issue(
        workspace_id, principal.key_id, vid, bound_origin, identified=identified
    )
    return VisitorSession(token, expires, vid, identified, config)


async def visitor_config(session: AsyncSession, principal: Principal) -> ConfigView:
    """The configuration of the visitor's widget."""
    if (
        principal.kind is not PrincipalKind.VISITOR
        or principal.key_id is None
        or principal.workspace_id is None
    ):
        raise Forbidden("Only widget visitors have a widget configuration.")
    return await widget_cache.config(session, principal.workspace_id, principal.key_id)
