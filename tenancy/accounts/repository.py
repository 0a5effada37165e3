"""SQL for users, log-in sessions and refresh tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import any_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.raw import driver_statement, fetch, fetch_opening
from tenancy.accounts.models import AuthSession, RefreshToken, User


async def insert_user(session: AsyncSession, user: User) -> None:
    """Add a user; a duplicate email raises IntegrityError for the service to translate."""
    session.add(user)
    await session.flush()


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """A user by id."""
    return await session.get(User, user_id)


@dataclass(frozen=True, slots=True)
class UserCard:
    """What other people's pages show of a user (no credentials)."""

    id: uuid.UUID
    email: str
    display_name: str
    created_at: dt.datetime


# A UserCard's columns, in its fields' order (other domains' pages join them, see
# app/knowledge/repository.py).
USER_CARD_COLUMNS = (User.id, User.email, User.display_name, User.created_at)

# Read for nearly every dashboard page (authors, inviters, the viewer): on the driver.
_USER_CARDS = driver_statement(
    select(*USER_CARD_COLUMNS).where(User.id == any_(bindparam("ids", type_=ARRAY(PgUUID))))
)


async def get_user_cards(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> list[UserCard]:
    """Users by ids, in no particular order (loaders reorder)."""
    if not user_ids:
        return []
    rows = await fetch(session, _USER_CARDS, {"ids": list(user_ids)})
    return [UserCard(*row) for row in rows]


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """A user by email, case-insensitively (uses the lower(email) unique index)."""
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def set_password(session: AsyncSession, user_id: uuid.UUID, password_hash: str) -> None:
    """Replace a user's password hash."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=password_hash, password_changed_at=func.now())
    )


async def insert_session(session: AsyncSession, auth_session: AuthSession) -> None:
    """Record a new log-in session."""
    session.add(auth_session)
    await session.flush()


async def insert_refresh_token(session: AsyncSession, token: RefreshToken) -> None:
    """Record a refresh token (its hash)."""
    session.add(token)
    await session.flush()


async def find_refresh_token(
    session: AsyncSession, token_hash: bytes
) -> tuple[RefreshToken, AuthSession] | None:
    """A refresh token with its session, locked so concurrent refreshes serialise."""
    row = (
        await session.execute(
            select(RefreshToken, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == token_hash)
            .with_for_update(of=RefreshToken)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def mark_refresh_token_used(session: AsyncSession, token_id: uuid.UUID) -> bool:
    """Mark a token used; False when it already was (a reuse)."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=func.now())
        .returning(RefreshToken.id)
    )
    return result.first() is not None


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, reason: str) -> None:
    """Revoke a log-in session: none of its refresh tokens work any more."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=reason)
    )


async def revoke_user_sessions(
    session: AsyncSession, user_id: uuid.UUID, reason: str, keep: uuid.UUID | None = None
) -> None:
    """Revoke every session of a user except `keep`."""
    query = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    await session.execute(query.values(revoked_at=func.now(), revoked_reason=reason))


# Run on every authenticated request: built once, so a request neither rebuilds the
# expression nor walks it again for SQLAlchemy's compiled-statement cache key.
_AUTHENTICATE_USER = driver_statement(
    text(
        "SELECT session_active, member_role "
        "FROM authenticate_user(:session_id, :user_id, :workspace_id, :now)"
    )
)


async def authenticate_user(
    session: AsyncSession,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    workspace_id: uuid.UUID | None,
    now: dt.datetime,
) -> tuple[bool, str | None]:
    """In one round trip (migration 0009): scope the transaction to the user, check that the
    session is active, and when it is and `workspace_id` is given, read the user's role there
    and, if they are a member, scope the transaction to the workspace too. Returns (session
    active, role or None). On the driver in a request's transaction (app/db/request.py)."""
    params = {
        "session_id": session_id,
        "user_id": user_id,
        "workspace_id": workspace_id,
        "now": now,
    }
    active, role = (await fetch_opening(session, _AUTHENTICATE_USER, params))[0]
    return bool(active), role
