"""Sign-up, log-in, token refresh with rotation and reuse detection, log-out, passwords."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.ids import uuid7
from app.db.tenant import set_tenant
from app.errors import Conflict, Forbidden, Unauthenticated, ValidationFailed
from app.validation import check_password, clean_email, clean_text
from tenancy.accounts import repository
from tenancy.accounts.models import AuthSession, RefreshToken, User
from tenancy.principal import Principal
from tenancy.security import Security, random_secret, token_hash
from tenancy.security_events import service as security_events
from tenancy.workspaces import repository as workspaces_repo

log = logging.getLogger(__name__)

REFRESH_PREFIX = "rt_"


@dataclass(frozen=True, slots=True)
class Tokens:
    """What a successful log-in or refresh hands back."""

    user: User
    session_id: uuid.UUID
    access_token: str
    access_expires_at: dt.datetime
    refresh_token: str


async def _open_session(
    session: AsyncSession,
    security: Security,
    user: User,
    user_agent: str | None,
    workspace_id: uuid.UUID | None,
) -> Tokens:
    now = dt.datetime.now(dt.UTC)
    auth_session = AuthSession(
        id=uuid7(),
        user_id=user.id,
        expires_at=now + dt.timedelta(seconds=security.settings.refresh_token_ttl_s),
        user_agent=(user_agent or "")[:400] or None,
    )
    await repository.insert_session(session, auth_session)
    return await _issue(session, security, user, auth_session.id, workspace_id)


async def _issue(
    session: AsyncSession,
    security: Security,
    user: User,
    session_id: uuid.UUID,
    workspace_id: uuid.UUID | None,
) -> Tokens:
    if workspace_id is not None:
        # A token names a workspace only for its members: refuse now rather than mint one
        # that every request would refuse. The user is known from here on, so the
        # transaction may read their memberships.
        await set_tenant(session, None, user.id)
        if await workspaces_repo.get_role(session, workspace_id, user.id) is None:
            raise Forbidden(
                "You are not a member of that workspace; log in without it or choose one of yours.",
                field="workspaceId",
            )
    refresh = REFRESH_PREFIX + random_secret()
    await repository.insert_refresh_token(
        session, RefreshToken(id=uuid7(), session_id=session_id, token_hash=token_hash(refresh))
    )
    access, expires = security.access_tokens.issue(user.id, session_id, workspace_id)
    return Tokens(user, session_id, access, expires, refresh)


async def sign_up(
    session: AsyncSession,
    security: Security,
    *,
    email: str,
    password: str,
    display_name: str,
    user_agent: str | None = None,
) -> Tokens:
    """Create an account and log it in."""
    email = clean_email(email)
    check_password(password)
    name = clean_text(display_name, field="displayName", max_length=200)
    user = User(
        id=uuid7(), email=email, display_name=name, password_hash=security.passwords.hash(password)
    )
    try:
        async with session.begin_nested():
            await repository.insert_user(session, user)
    except IntegrityError as exc:
        raise Conflict("An account with this email already exists.", field="email") from exc
    return await _open_session(session, security, user, user_agent, None)


async def log_in(
    session: AsyncSession,
    security: Security,
    *,
    email: str,
    password: str,
    user_agent: str | None = None,
    workspace_id: uuid.UUID | None = None,
) -> Tokens:
    """Exchange email and password for tokens. The error never says which of the two was
    wrong, and the work done is the same either way."""
    try:
        email = clean_email(email)
    except ValidationFailed:
        email = ""
    user = await repository.get_user_by_email(session, email) if email else None
    if (
        not security.passwords.verify(user.password_hash if user else None, password)
        or user is None
    ):
        security_events.login_failed(user_id=user.id if user else None, user_agent=user_agent)
        raise Unauthenticated("Email or password is wrong.")
    if security.passwords.needs_rehash(user.password_hash):
        await repository.set_password(session, user.id, security.passwords.hash(password))
    return await _open_session(session, security, user, user_agent, workspace_id)


async def refresh(
    session: AsyncSession,
    security: Security,
    *,
    refresh_token: str,
    workspace_id: uuid.UUID | None = None,
) -> Tokens:
    """Rotate a refresh token. Presenting one that was already rotated means it leaked (or a
    client raced itself): the whole session is revoked, so neither copy works any more."""
    if not refresh_token.startswith(REFRESH_PREFIX) or len(refresh_token) > 200:
        raise Unauthenticated("The refresh token is not valid.")
    found = await repository.find_refresh_token(session, token_hash(refresh_token))
    if found is None:
        raise Unauthenticated("The refresh token is not valid.")
    token, auth_session = found
    now = dt.datetime.now(dt.UTC)
    if auth_session.revoked_at is not None or auth_session.expires_at <= now:
        raise Unauthenticated("The session has ended; log in again.")
    if not await repository.mark_refresh_token_used(session, token.id):
        await repository.revoke_session(session, auth_session.id, "refresh_token_reuse")
        log.warning(
            "refresh token reuse; session revoked",
            extra={"event": "refresh_reuse", "session_id": str(auth_session.id)},
        )
        # The revocation must persist even though the request fails: the caller commits
        # this transaction for this one error (see ReuseDetected).
        raise ReuseDetected("The refresh token was already used; the session is revoked.")
    user = await repository.get_user(session, auth_session.user_id)
    if user is None:
        raise Unauthenticated("The account no longer exists.")
    return await _issue(session, security, user, auth_session.id, workspace_id)


class ReuseDetected(Unauthenticated):
    """Raised after revoking a session whose rotated token came back. Unlike other errors,
    the transaction that raised it must still commit, or the revocation would be lost."""

    commit_anyway = True


async def log_out(session: AsyncSession, principal: Principal) -> None:
    """End the caller's session: its refresh tokens stop working."""
    principal.require_user()
    if principal.session_id is not None:
        await repository.revoke_session(session, principal.session_id, "logout")


async def change_password(
    session: AsyncSession,
    security: Security,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
) -> None:
    """Change the caller's password and end every other session."""
    user_id = principal.require_user()
    user = await repository.get_user(session, user_id)
    if user is None or not security.passwords.verify(user.password_hash, current_password):
        raise ValidationFailed("The current password is wrong.", field="currentPassword")
    check_password(new_password, field="newPassword")
    if new_password == current_password:
        raise ValidationFailed(
            "The new password must differ from the current one.", field="newPassword"
        )
    await repository.set_password(session, user_id, security.passwords.hash(new_password))
    await repository.revoke_user_sessions(
        session, user_id, "password_changed", keep=principal.session_id
    )
