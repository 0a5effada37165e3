"""authenticate_user (migration 0009): one round trip that checks a user's session and
membership and scopes the transaction. It must not be a way around row-level security."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text

from app.config import Settings
from app.state import AppState
from tenancy.accounts import repository as accounts_repo
from tests.app.test_isolation import admin_fetch, raw
from tests.support.factories import Factory


async def test_it_runs_with_the_callers_rights(settings: Settings) -> None:
    rows = await admin_fetch(
        settings, "SELECT prosecdef FROM pg_proc WHERE proname = 'authenticate_user'"
    )
    assert [r["prosecdef"] for r in rows] == [False]  # SECURITY INVOKER: RLS applies inside


async def scoped(
    state: AppState, session_id: uuid.UUID, user_id: uuid.UUID, workspace: uuid.UUID | None
) -> tuple[bool, str | None, str, str]:
    """What the function answers, and the settings it leaves in the transaction."""
    async with state.sessions() as session, session.begin():
        active, role = await accounts_repo.authenticate_user(
            session, session_id, user_id, workspace, dt.datetime.now(dt.UTC)
        )
        settings = (
            await session.execute(
                text(
                    "SELECT current_setting('app.workspace_id', true), "
                    "current_setting('app.user_id', true)"
                )
            )
        ).one()
    return active, role, settings[0], settings[1]


async def test_members_non_members_and_dead_sessions(state: AppState, factory: Factory) -> None:
    mine, theirs = await factory.tenant(), await factory.tenant()
    claims = state.security.access_tokens.decode(mine.owner.token)
    assert claims is not None
    user = str(claims.user_id)
    # A member: the role, and the transaction scoped to the workspace.
    assert await scoped(state, claims.session_id, claims.user_id, raw(mine.id)) == (
        True,
        "owner",
        str(raw(mine.id)),
        user,
    )
    # Another workspace: no role, and no tenant set (so its rows stay invisible).
    assert await scoped(state, claims.session_id, claims.user_id, raw(theirs.id)) == (
        True,
        None,
        "",
        user,
    )
    # No workspace asked for: the user only.
    assert await scoped(state, claims.session_id, claims.user_id, None) == (True, None, "", user)
    # A session that is not this user's (or does not exist) is not active, and no role is read.
    assert await scoped(state, uuid.uuid4(), claims.user_id, raw(mine.id)) == (
        False,
        None,
        "",
        user,
    )
