"""SQL for row-level security, used by migrations so every tenant table is isolated the same way.

Policies compare the tenant column with the setting directly, wrapped in a scalar sub-select so
PostgreSQL evaluates it once per statement (an InitPlan) and can use the table's
workspace-first indexes. `NULLIF(..., '')` matters: once a transaction-local setting has been
used on a pooled connection, PostgreSQL reports it as '' rather than NULL afterwards.
"""

from __future__ import annotations

CURRENT_WORKSPACE = "(SELECT NULLIF(current_setting('app.workspace_id', true), '')::uuid)"
CURRENT_USER = "(SELECT NULLIF(current_setting('app.user_id', true), '')::uuid)"


def tenant_table_sql(table: str, app_role: str, column: str = "workspace_id") -> list[str]:
    """Statements that enable and force RLS on `table` and grant the application role access
    to exactly the current workspace's rows."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} TO {app_role} "
        f"USING ({column} = {CURRENT_WORKSPACE}) WITH CHECK ({column} = {CURRENT_WORKSPACE})",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app_role}",
    ]


def global_table_sql(table: str, app_role: str) -> list[str]:
    """Grants for a table that holds no workspace data (identity, catalogue, ledgers)."""
    return [f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app_role}"]
