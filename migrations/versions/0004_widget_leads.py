"""Widget configuration per publishable key, and leads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

from app.config import get_settings
from app.db.rls import tenant_table_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    app = get_settings().database.app_role
    op.execute(
        """
        CREATE TABLE widget_configs (
            workspace_id uuid NOT NULL,
            key_id uuid NOT NULL,
            title varchar(60) NOT NULL,
            greeting text NOT NULL,
            primary_color varchar(7) NOT NULL,
            position varchar(16) NOT NULL
                CONSTRAINT ck_widget_configs_position
                CHECK (position IN ('bottom-right', 'bottom-left')),
            suggested_questions text[] NOT NULL,
            lead_capture boolean NOT NULL,
            lead_fields text[] NOT NULL,
            language varchar(8) NOT NULL,
            require_identity boolean NOT NULL DEFAULT false,
            identity_secret_version integer NOT NULL DEFAULT 1,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_widget_configs PRIMARY KEY (workspace_id, key_id),
            CONSTRAINT fk_widget_configs_workspace_id_key_id_api_keys
                FOREIGN KEY (workspace_id, key_id) REFERENCES api_keys (workspace_id, id)
                ON DELETE CASCADE
        )
        """
    )
    op.execute(
        """
        CREATE TABLE leads (
            workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
            id uuid NOT NULL,
            email varchar(320) NOT NULL,
            name varchar(200),
            phone varchar(40),
            company varchar(200),
            message text,
            status varchar(16) NOT NULL DEFAULT 'new'
                CONSTRAINT ck_leads_status
                CHECK (status IN ('new', 'contacted', 'qualified', 'won', 'lost')),
            note text,
            consent_at timestamptz NOT NULL,
            conversation_id uuid,
            visitor_id varchar(80),
            key_id uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_leads PRIMARY KEY (workspace_id, id)
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_leads_workspace_id_email ON leads (workspace_id, lower(email))"
    )
    op.execute("CREATE INDEX ix_leads_workspace_id_status_id ON leads (workspace_id, status, id)")
    for table in ("widget_configs", "leads"):
        for sql in tenant_table_sql(table, app):
            op.execute(sql)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS leads")
    op.execute("DROP TABLE IF EXISTS widget_configs")
