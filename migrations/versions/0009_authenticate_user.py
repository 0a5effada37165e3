"""One round trip to authenticate a signed-in user's request.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

Every dashboard request used to pay four round trips before its own query: set the user,
check the session, read the membership, set the workspace. `authenticate_user` does the four
in one call. It runs with the caller's rights (SECURITY INVOKER), so the application role's
row-level security applies inside it exactly as it did to the separate statements, and it
sets the settings transaction-locally, as app/db/tenant.py does. Each statement inside a
PL/pgSQL function is planned and run after the previous one, so the membership read sees the
user setting made just before it.
"""

from __future__ import annotations

from alembic import op

from app.config import get_settings

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION authenticate_user(
    p_session_id uuid, p_user_id uuid, p_workspace_id uuid, p_now timestamptz,
    OUT session_active boolean, OUT member_role text
) LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
BEGIN
    PERFORM set_config('app.workspace_id', '', true), set_config('app.user_id', p_user_id::text, true);
    session_active := EXISTS (
        SELECT 1 FROM public.auth_sessions s
        WHERE s.id = p_session_id AND s.user_id = p_user_id
          AND s.revoked_at IS NULL AND s.expires_at > p_now
    );
    member_role := NULL;
    IF session_active AND p_workspace_id IS NOT NULL THEN
        SELECT m.role INTO member_role FROM public.memberships m
        WHERE m.workspace_id = p_workspace_id AND m.user_id = p_user_id;
        IF member_role IS NOT NULL THEN
            PERFORM set_config('app.workspace_id', p_workspace_id::text, true);
        END IF;
    END IF;
END $$
"""

SIGNATURE = "authenticate_user(uuid, uuid, uuid, timestamptz)"


def upgrade() -> None:
    app = get_settings().database.app_role
    op.execute(FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {app}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
