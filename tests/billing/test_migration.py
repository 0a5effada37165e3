"""The billing migration puts every workspace created before it on the free plan."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from alembic import command

from app.config import DatabaseSettings
from app.db.bootstrap import _bootstrap, alembic_config
from app.db.engine import asyncpg_dsn
from tests.support import services as test_services


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def test_existing_workspaces_get_one_current_free_subscription(
    services: test_services.TestServices,
) -> None:
    name = f"parley_mig_{uuid.uuid4().hex[:8]}"
    admin_url = _with_database(services.admin_url, name)
    settings = DatabaseSettings(url=_with_database(services.app_url, name), admin_url=admin_url)
    await _bootstrap(settings)
    config = alembic_config(admin_url)
    await asyncio.to_thread(command.upgrade, config, "0002")
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        old = [uuid.uuid4(), uuid.uuid4()]
        for i, workspace_id in enumerate(old):
            await conn.execute(
                "INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $3)",
                workspace_id,
                f"Old {i}",
                f"old-{i}-{workspace_id.hex[:6]}",
            )
        await asyncio.to_thread(command.upgrade, config, "head")
        rows = await conn.fetch(
            "SELECT s.workspace_id, s.status, s.is_current, p.code FROM subscriptions s "
            "JOIN plans p ON p.id = s.plan_id ORDER BY s.workspace_id"
        )
        assert [(r["workspace_id"], r["status"], r["is_current"], r["code"]) for r in rows] == [
            (w, "active", True, "free") for w in sorted(old)
        ]
        # The temporary policies used for the backfill are gone.
        policies = await conn.fetchval(
            "SELECT count(*) FROM pg_policies WHERE policyname = 'billing_backfill'"
        )
        assert policies == 0
        # And the downgrade takes billing away cleanly.
        await asyncio.to_thread(command.downgrade, config, "0002")
        assert await conn.fetchval("SELECT to_regclass('subscriptions')") is None
    finally:
        await conn.close()
        maintenance = await asyncpg.connect(
            asyncpg_dsn(_with_database(services.admin_url, "postgres"))
        )
        try:
            await maintenance.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await maintenance.close()
