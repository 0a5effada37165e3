"""Resolving who is calling, inside the request's transaction.

Credentials are checked against the database and the tenant is set only once they hold: a
user's workspace becomes current only after their membership there is confirmed, and a key's
workspace only after the key is found under that workspace's row-level security.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tenant import set_tenant
from app.errors import Forbidden, Unauthenticated, ValidationFailed
from tenancy.accounts import repository as accounts_repo
from tenancy.apikeys import service as keys
from tenancy.apikeys.origins import normalize_origin, origin_allowed
from tenancy.principal import Principal, PrincipalKind, Role
from tenancy.security import VISITOR_PREFIX, Security
from tenancy.security_events import service as security_events

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request presented, before anything is checked."""

    bearer: str | None = None
    workspace_id: uuid.UUID | None = None
    origin: str | None = None
    ip: str | None = None


async def authenticate(
    session: AsyncSession, security: Security, creds: Credentials, *, read_only: bool = False
) -> Principal:
    """Check the credentials and scope the transaction; raise UNAUTHENTICATED or FORBIDDEN.
    `read_only`: the transaction runs on a replica, so nothing may be written (a key's
    last use is then recorded on the primary afterwards, see app/db/routing.py)."""
    token = creds.bearer
    if not token:
        await set_tenant(session, None)
        return Principal.anonymous(creds.ip)
    if token.startswith(keys.SECRET_PREFIX + "_"):
        return await _secret_key(session, token, creds, touch=not read_only)
    if token.startswith(keys.PUBLISHABLE_PREFIX + "_"):
        return await _publishable_key(session, token, creds, touch=not read_only)
    if token.startswith(VISITOR_PREFIX):
        return await _visitor(session, security, token, creds)
    return await _user(session, security, token, creds)


async def _secret_key(
    session: AsyncSession, token: str, creds: Credentials, *, touch: bool
) -> Principal:
    key = await keys.authenticate(session, token, "secret", touch=touch)
    if key is None or key.role is None:
        raise Unauthenticated("The API key is not valid or was revoked.")
    if creds.workspace_id is not None and creds.workspace_id != key.workspace_id:
        await set_tenant(session, None)
        security_events.cross_tenant_refused(
            credential="secret_key",
            target_workspace_id=creds.workspace_id,
            key_id=key.id,
            key_workspace_id=key.workspace_id,
        )
        raise Forbidden("This key belongs to a different workspace.")
    return Principal(
        kind=PrincipalKind.SECRET_KEY,
        workspace_id=key.workspace_id,
        role=Role(key.role),
        key_id=key.id,
        ip=creds.ip,
    )


async def _publishable_key(
    session: AsyncSession, token: str, creds: Credentials, *, touch: bool
) -> Principal:
    key = await keys.authenticate(session, token, "publishable", touch=touch)
    if key is None:
        raise Unauthenticated("The publishable key is not valid or was revoked.")
    if not origin_allowed(creds.origin, key.allowed_origins):
        await set_tenant(session, None)
        security_events.origin_refused(workspace_id=key.workspace_id, origin=creds.origin)
        raise Forbidden("This page's origin is not allowed to use this publishable key.")
    return Principal(
        kind=PrincipalKind.PUBLISHABLE_KEY,
        workspace_id=key.workspace_id,
        key_id=key.id,
        ip=creds.ip,
    )


async def _visitor(
    session: AsyncSession, security: Security, token: str, creds: Credentials
) -> Principal:
    """A widget visitor: the token must come from the origin it was issued to, and its key
    must still be active and still allow that origin."""
    claims = security.visitor_tokens.decode(token)
    if claims is None:
        raise Unauthenticated("The visitor token is not valid or has expired.")
    try:
        origin = normalize_origin(creds.origin or "", field="Origin")
    except ValidationFailed:  # a malformed origin is simply not the bound one
        origin = ""
    if origin != claims.origin:
        security_events.origin_refused(workspace_id=claims.workspace_id, origin=creds.origin)
        raise Forbidden("This visitor token was issued to a different origin.")
    await set_tenant(session, claims.workspace_id)
    key = await keys.active_key(session, claims.workspace_id, claims.key_id)
    if key is None or not origin_allowed(origin, key.allowed_origins):
        await set_tenant(session, None)
        raise Unauthenticated("The widget key was revoked or no longer allows this origin.")
    return Principal(
        kind=PrincipalKind.VISITOR,
        workspace_id=claims.workspace_id,
        key_id=claims.key_id,
        visitor_id=claims.visitor_id,
        ip=creds.ip,
    )


async def _user(
    session: AsyncSession, security: Security, token: str, creds: Credentials
) -> Principal:
    claims = security.access_tokens.decode(token)
    if claims is None:
        raise Unauthenticated("The access token is not valid or has expired.")
    workspace_id = creds.workspace_id or claims.workspace_id
    # Sets the user (and, for a member, the workspace) for the transaction as it checks.
    active, found = await accounts_repo.authenticate_user(
        session, claims.session_id, claims.user_id, workspace_id, dt.datetime.now(dt.UTC)
    )
    if not active:
        raise Unauthenticated("The session has ended; log in again.")
    role: Role | None = None
    if workspace_id is not None:
        if found is None:
            security_events.cross_tenant_refused(
                credential="user", target_workspace_id=workspace_id, user_id=claims.user_id
            )
            raise Forbidden("You are not a member of that workspace.")
        role = Role(found)
    return Principal(
        kind=PrincipalKind.USER,
        user_id=claims.user_id,
        session_id=claims.session_id,
        workspace_id=workspace_id,
        role=role,
        ip=creds.ip,
    )
