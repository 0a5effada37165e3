"""Usage counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

from app.config import get_settings
from app.db.rls import tenant_table_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE usage_counters (
            workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
            metric varchar(40) NOT NULL,
            period_start date NOT NULL,
            value bigint NOT NULL DEFAULT 0,
            CONSTRAINT pk_usage_counters PRIMARY KEY (workspace_id, metric, period_start)
        )
        """
    )
    for sql in tenant_table_sql("usage_counters", get_settings().database.app_role):
        op.execute(sql)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS usage_counters")
