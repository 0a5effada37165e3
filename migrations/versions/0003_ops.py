"""Operations: security events, and the maintenance role's view of workspace ids.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from app.config import get_settings

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    database = get_settings().database
    app, maintenance = database.app_role, database.maintenance_role
    op.execute(
        """
        CREATE TABLE security_events (
            id uuid PRIMARY KEY,
            occurred_at timestamptz NOT NULL DEFAULT now(),
            kind varchar(40) NOT NULL,
            user_id uuid REFERENCES users (id) ON DELETE SET NULL,
            key_id uuid,
            target_workspace_id uuid,
            ip inet,
            user_agent varchar(400),
            request_id varchar(128),
            details jsonb NOT NULL DEFAULT '{}'::jsonb
        )
        """
    )
    op.execute("CREATE INDEX ix_security_events_occurred_at ON security_events (occurred_at)")
    op.execute(
        "CREATE INDEX ix_security_events_user_id ON security_events (user_id, occurred_at) "
        "WHERE user_id IS NOT NULL"
    )
    # Append and expire only: the application role cannot read events back (beyond the two
    # columns the retention delete needs) nor rewrite them; operators read them as admin.
    op.execute(f"GRANT INSERT, DELETE ON security_events TO {app}")
    op.execute(f"GRANT SELECT (id, occurred_at) ON security_events TO {app}")

    # /ready compares the schema revision with the code's head as the application role.
    op.execute(f"GRANT SELECT ON alembic_version TO {app}")

    # The maintenance role (created by `parley migrate`'s bootstrap, granted to the
    # application role WITH INHERIT FALSE) reads workspace ids and nothing else.
    op.execute(f"GRANT SELECT (id) ON workspaces TO {maintenance}")
    op.execute(
        f"CREATE POLICY maintenance_list_ids ON workspaces FOR SELECT TO {maintenance} USING (true)"
    )


def downgrade() -> None:
    database = get_settings().database
    maintenance = database.maintenance_role
    op.execute(f"REVOKE SELECT ON alembic_version FROM {database.app_role}")
    op.execute("DROP POLICY IF EXISTS maintenance_list_ids ON workspaces")
    op.execute(f"REVOKE SELECT (id) ON workspaces FROM {maintenance}")
    op.execute("DROP TABLE IF EXISTS security_events")
