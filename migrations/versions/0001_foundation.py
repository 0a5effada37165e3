"""Foundation: identity, workspaces, memberships, invitations, API keys, audit log, RLS.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

from app.config import get_settings
from app.db.rls import CURRENT_USER, CURRENT_WORKSPACE, global_table_sql, tenant_table_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


DDL = """
CREATE TABLE users (
    id uuid PRIMARY KEY,
    email varchar(320) NOT NULL,
    display_name varchar(200) NOT NULL,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX uq_users_email_lower ON users (lower(email));

CREATE TABLE auth_sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_reason varchar(40),
    user_agent varchar(400)
);
CREATE INDEX ix_auth_sessions_user_id ON auth_sessions (user_id);

CREATE TABLE refresh_tokens (
    id uuid PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL CONSTRAINT uq_refresh_tokens_token_hash UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at timestamptz
);
CREATE INDEX ix_refresh_tokens_session_id ON refresh_tokens (session_id);

CREATE TABLE workspaces (
    id uuid PRIMARY KEY,
    name varchar(100) NOT NULL,
    slug varchar(48) NOT NULL CONSTRAINT uq_workspaces_slug UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role varchar(16) NOT NULL CONSTRAINT ck_memberships_role
        CHECK (role IN ('owner', 'admin', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_memberships PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX ix_memberships_user_id ON memberships (user_id);

CREATE TABLE invitations (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    email varchar(320) NOT NULL,
    role varchar(16) NOT NULL CONSTRAINT ck_invitations_role CHECK (role IN ('admin', 'member')),
    token_hash bytea NOT NULL,
    invited_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid,
    revoked_at timestamptz,
    CONSTRAINT pk_invitations PRIMARY KEY (workspace_id, id),
    CONSTRAINT uq_invitations_workspace_id_token_hash UNIQUE (workspace_id, token_hash)
);

CREATE TABLE api_keys (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    kind varchar(16) NOT NULL CONSTRAINT ck_api_keys_kind CHECK (kind IN ('secret', 'publishable')),
    name varchar(100) NOT NULL,
    role varchar(16),
    secret_hash bytea NOT NULL,
    last_four varchar(4) NOT NULL,
    allowed_origins text[] NOT NULL DEFAULT '{}'::text[],
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz,
    CONSTRAINT pk_api_keys PRIMARY KEY (workspace_id, id),
    CONSTRAINT uq_api_keys_workspace_id_secret_hash UNIQUE (workspace_id, secret_hash),
    CONSTRAINT ck_api_keys_role_by_kind CHECK (
        (kind = 'secret' AND role IN ('admin', 'member'))
        OR (kind = 'publishable' AND role IS NULL))
);

CREATE TABLE audit_log (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_type varchar(16) NOT NULL,
    actor_id uuid,
    action varchar(64) NOT NULL,
    target_type varchar(32),
    target_id varchar(64),
    ip inet,
    details jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT pk_audit_log PRIMARY KEY (workspace_id, id)
);
"""


def upgrade() -> None:
    app = get_settings().database.app_role
    for statement in DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)

    # Readiness probes compare the schema version with the code's head.
    op.execute(f"GRANT SELECT ON alembic_version TO {app}")
    for table in ("users", "auth_sessions", "refresh_tokens"):
        for sql in global_table_sql(table, app):
            op.execute(sql)

    # The workspace row is its own tenant key. A user may also read the workspaces they
    # belong to (to list them before choosing one); writes need the workspace to be current.
    op.execute("ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE workspaces FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON workspaces TO {app} "
        f"USING (id = {CURRENT_WORKSPACE}) WITH CHECK (id = {CURRENT_WORKSPACE})"
    )
    op.execute(
        f"CREATE POLICY member_can_list ON workspaces FOR SELECT TO {app} USING (EXISTS ("
        f"SELECT 1 FROM memberships m WHERE m.workspace_id = workspaces.id "
        f"AND m.user_id = {CURRENT_USER}))"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON workspaces TO {app}")

    for table in ("memberships", "invitations", "api_keys", "audit_log"):
        for sql in tenant_table_sql(table, app):
            op.execute(sql)
    # Users see their own memberships in every workspace ("my workspaces").
    op.execute(
        f"CREATE POLICY own_memberships ON memberships FOR SELECT TO {app} "
        f"USING (user_id = {CURRENT_USER})"
    )


def downgrade() -> None:
    for table in (
        "audit_log",
        "api_keys",
        "invitations",
        "memberships",
        "workspaces",
        "refresh_tokens",
        "auth_sessions",
        "users",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
