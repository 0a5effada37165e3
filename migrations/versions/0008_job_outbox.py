"""Job outbox: jobs recorded in the transaction that creates their work.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

A request (or job) writes the jobs it wants run into `job_outbox` in the same transaction as
its data, so a commit always carries its jobs with it. After the commit it hands them to arq
and deletes the rows; whatever Redis did not take (Redis down, process killed in between) is
delivered by the relay in the workers (app/outbox/relay.py).

The table is a tenant table like any other. The relay finds the workspaces that have waiting
jobs through the maintenance role (app/db/maintenance.py), which may read two columns here,
`workspace_id` and `created_at`, and nothing else; it then reads and deletes each workspace's
jobs in a transaction scoped to that workspace, under the ordinary policy.
"""

from __future__ import annotations

from alembic import op

from app.config import get_settings
from app.db.rls import tenant_table_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE job_outbox (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    function varchar(100) NOT NULL,
    args jsonb NOT NULL,
    job_id varchar(300) NOT NULL,
    queue varchar(100) NOT NULL,
    defer_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_job_outbox PRIMARY KEY (workspace_id, id)
)
"""
INDEX = (
    "CREATE INDEX ix_job_outbox_workspace_id_created_at ON job_outbox (workspace_id, created_at)"
)


def upgrade() -> None:
    database = get_settings().database
    op.execute(DDL)
    op.execute(INDEX)
    for statement in tenant_table_sql("job_outbox", database.app_role):
        op.execute(statement)
    maintenance = database.maintenance_role
    op.execute(f"GRANT SELECT (workspace_id, created_at) ON job_outbox TO {maintenance}")
    op.execute(
        f"CREATE POLICY maintenance_pending_jobs ON job_outbox FOR SELECT TO {maintenance} "
        "USING (true)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS job_outbox")
