"""Workspace isolation, enforced by PostgreSQL row-level security."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.config import Settings
from app.db.engine import asyncpg_dsn, create_engine, create_sessionmaker
from app.db.tenant import set_tenant, tenant_transaction
from app.graphql.node import from_global_id
from app.state import AppState
from tests.support.factories import Factory, Tenant

# Tables without workspace data, deliberately outside row-level security. Adding a table to
# this list is a decision a reviewer must see.
GLOBAL_TABLES = {"alembic_version", "users", "auth_sessions", "refresh_tokens"}


def raw(global_id: str) -> uuid.UUID:
    return from_global_id(global_id)[1]


async def admin_fetch(settings: Settings, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(settings.database.admin_url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def tenant_tables(settings: Settings) -> list[str]:
    rows = await admin_fetch(
        settings,
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
             AND (c.relname = 'workspaces' OR EXISTS (
                 SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                 AND a.attname = 'workspace_id' AND NOT a.attisdropped))""",
    )
    return sorted(r["relname"] for r in rows)


class TestCatalogue:
    async def test_every_tenant_table_has_forced_rls_and_policies(self, settings: Settings) -> None:
        tables = await tenant_tables(settings)
        assert {"workspaces", "memberships", "api_keys", "audit_log"} <= set(tables)
        rows = await admin_fetch(
            settings,
            """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                      (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
                      (SELECT bool_and(pg_get_expr(p.polqual, p.polrelid) LIKE '%current_setting%')
                         FROM pg_policy p WHERE p.polrelid = c.oid
                          AND (SELECT oid FROM pg_roles WHERE rolname = $2) = ANY(p.polroles))
                        AS keyed
               FROM pg_class c WHERE c.relname = ANY($1::text[])""",
            tables,
            settings.database.app_role,
        )
        assert len(rows) == len(tables)
        for row in rows:
            assert row["relrowsecurity"], f"{row['relname']}: RLS not enabled"
            assert row["relforcerowsecurity"], f"{row['relname']}: RLS not forced"
            assert row["policies"] >= 1, f"{row['relname']}: no policy"
            # Every policy that applies to the application role compares with the setting.
            assert row["keyed"], f"{row['relname']}: a policy is not keyed on the setting"

    async def test_every_other_table_is_a_declared_global_table(self, settings: Settings) -> None:
        rows = await admin_fetch(
            settings,
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')""",
        )
        others = {r["relname"] for r in rows} - set(await tenant_tables(settings))
        assert others <= GLOBAL_TABLES | _extra_global_tables(), others

    async def test_tenant_keys_lead_with_workspace_id(self, settings: Settings) -> None:
        tables = set(await tenant_tables(settings)) - {"workspaces"}
        rows = await admin_fetch(
            settings,
            """SELECT conrelid::regclass::text AS tbl, conname,
                      (SELECT attname FROM pg_attribute
                        WHERE attrelid = conrelid AND attnum = conkey[1]) AS first_col
               FROM pg_constraint WHERE contype IN ('p', 'u')
                 AND conrelid::regclass::text = ANY($1::text[])""",
            sorted(tables),
        )
        for row in rows:
            assert row["first_col"] == "workspace_id", f"{row['tbl']}.{row['conname']}"

    async def test_application_role_owns_nothing_and_cannot_bypass(
        self, settings: Settings
    ) -> None:
        role = settings.database.app_role
        [attrs] = await admin_fetch(
            settings,
            "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname=$1",
            role,
        )
        assert not attrs["rolsuper"] and not attrs["rolbypassrls"] and not attrs["rolcreaterole"]
        owned = await admin_fetch(
            settings,
            """SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE r.rolname = $1 AND n.nspname = 'public'""",
            role,
        )
        assert owned == []
        [who] = await admin_fetch(settings, "SELECT current_user")  # sanity: admin differs
        assert who["current_user"] != role


def _extra_global_tables() -> set[str]:
    """Global tables added by later features, each documented where it is created."""
    from app.db.models_registry import GLOBAL_TABLES as declared

    return set(declared)


async def test_no_tenant_means_no_rows(state: AppState, factory: Factory) -> None:
    tenant = await factory.tenant()
    await factory.member(tenant)
    tables = await tenant_tables(state.settings)
    async with state.sessions() as session, session.begin():
        for table in tables:
            count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            assert count == 0, table
        # After a tenant was set and the transaction ended, the pooled connection is clean.
    async with tenant_transaction(state.sessions, raw(tenant.id)) as session:
        assert (await session.execute(text("SELECT count(*) FROM memberships"))).scalar() == 2
    async with state.sessions() as session, session.begin():
        assert (await session.execute(text("SELECT count(*) FROM memberships"))).scalar() == 0


async def test_rows_cannot_be_written_into_or_moved_to_another_workspace(
    state: AppState, factory: Factory
) -> None:
    a, b = await factory.tenant("A"), await factory.tenant("B")
    a_id, b_id = raw(a.id), raw(b.id)
    owner_b = raw(b.owner.user_id)
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_transaction(state.sessions, a_id) as session:
            await session.execute(
                text(
                    "INSERT INTO memberships (workspace_id, user_id, role) VALUES (:w, :u, 'admin')"
                ),
                {"w": b_id, "u": raw(a.owner.user_id)},
            )
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_transaction(state.sessions, a_id) as session:
            await session.execute(
                text("UPDATE audit_log SET workspace_id = :b WHERE workspace_id = :a"),
                {"a": a_id, "b": b_id},
            )
    async with tenant_transaction(state.sessions, a_id) as session:
        # B's rows are invisible to updates and deletes: nothing matches, nothing changes.
        changed = await session.execute(
            text("UPDATE memberships SET role = 'member' WHERE user_id = :u"), {"u": owner_b}
        )
        assert changed.rowcount == 0  # type: ignore[attr-defined]
        deleted = await session.execute(text("DELETE FROM workspaces WHERE id = :b"), {"b": b_id})
        assert deleted.rowcount == 0  # type: ignore[attr-defined]
    assert (await b.gql.op("CurrentWorkspace")).data["workspace"]["viewerRole"] == "OWNER"


async def test_pool_of_one_never_leaks_a_tenant(settings: Settings, factory: Factory) -> None:
    tenants = [await factory.tenant(f"P{i}") for i in range(3)]
    engine = create_engine(settings.database, pool_size=1, max_overflow=0)
    sessions = create_sessionmaker(engine)
    try:

        async def visible(ws: Tenant) -> set[str]:
            async with tenant_transaction(sessions, raw(ws.id)) as session:
                rows = await session.execute(text("SELECT id FROM workspaces"))
                return {str(r[0]) for r in rows}

        for _ in range(5):
            for ws in tenants:
                assert await visible(ws) == {str(raw(ws.id))}
        # Concurrent requests queue for the single connection and still see only their own.
        results = await asyncio.gather(*(visible(t) for t in tenants * 10))
        assert results == [{str(raw(t.id))} for t in tenants * 10]
        async with sessions() as session, session.begin():
            leftover = (
                await session.execute(text("SELECT current_setting('app.workspace_id', true)"))
            ).scalar()
            assert leftover in (None, "")
            assert (await session.execute(text("SELECT count(*) FROM workspaces"))).scalar() == 0
        # A transaction that fails still leaves the connection clean.
        with pytest.raises(DBAPIError):
            async with tenant_transaction(sessions, raw(tenants[0].id)) as session:
                await session.execute(text("SELECT 1/0"))
        assert await visible(tenants[1]) == {str(raw(tenants[1].id))}
    finally:
        await engine.dispose()


async def test_paged_list_uses_the_workspace_index(state: AppState, factory: Factory) -> None:
    tenants = [await factory.tenant(f"E{i}") for i in range(3)]
    # Enough rows that a sequential scan would be the planner's choice if the policy were not
    # index-friendly.
    await admin_fetch(
        state.settings,
        """INSERT INTO audit_log (workspace_id, id, actor_type, action)
           SELECT w.id, gen_random_uuid(), 'system', 'bulk.test'
           FROM workspaces w, generate_series(1, 3000)""",
    )
    await admin_fetch(state.settings, "ANALYZE audit_log")
    async with tenant_transaction(state.sessions, raw(tenants[0].id)) as session:
        # No explicit workspace filter: only the policy restricts the rows, so the index can
        # be used only if the policy compares the column with the setting directly.
        plan = "\n".join(
            r[0]
            for r in await session.execute(
                text("EXPLAIN SELECT * FROM audit_log ORDER BY id DESC LIMIT 21")
            )
        )
        rows = (await session.execute(text("SELECT count(*) FROM audit_log"))).scalar()
    assert "Index Scan Backward using pk_audit_log" in plan, plan
    assert "Index Cond: (workspace_id = (InitPlan" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert rows is not None and rows >= 3000


async def test_set_tenant_is_transaction_local(state: AppState, factory: Factory) -> None:
    tenant = await factory.tenant()
    async with state.sessions() as session:
        async with session.begin():
            await set_tenant(session, raw(tenant.id))
            assert (await session.execute(text("SELECT count(*) FROM workspaces"))).scalar() == 1
        async with session.begin():
            assert (await session.execute(text("SELECT count(*) FROM workspaces"))).scalar() == 0
