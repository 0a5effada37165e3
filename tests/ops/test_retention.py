"""Retention: old audit rows go in every workspace, recent ones stay; old security events go.
Workspaces are enumerated through the maintenance role, which sees ids and nothing else."""

from __future__ import annotations

import time
import uuid

import asyncpg
import pytest

from app.db.engine import asyncpg_dsn
from app.db.ids import uuid7_floor
from app.state import AppState
from tenancy.tasks import purge_expired_records
from tests.ops.conftest import raw_id
from tests.support.factories import Factory
from tests.support.services import TestServices as RunningServices

DAY = 86_400


def old_id(days_ago: int) -> uuid.UUID:
    """A UUIDv7 from `days_ago` days back (random low bits, like a real one)."""
    floor = uuid7_floor(time.time() - days_ago * DAY).int
    return uuid.UUID(int=floor | (uuid.uuid4().int & ((1 << 62) - 1)))


async def add_audit(admin: asyncpg.Connection, workspace: uuid.UUID, days_ago: int) -> uuid.UUID:
    event_id = old_id(days_ago)
    await admin.execute(
        "INSERT INTO audit_log (workspace_id, id, occurred_at, actor_type, action) "
        "VALUES ($1, $2, now() - make_interval(days => $3), 'system', 'test.old')",
        workspace,
        event_id,
        days_ago,
    )
    return event_id


async def test_purge_removes_only_expired_rows_in_every_workspace(
    factory: Factory, state: AppState, admin_db: asyncpg.Connection
) -> None:
    first, second = await factory.tenant("Keep A"), await factory.tenant("Keep B")
    ids = {}
    for tenant in (first, second):
        workspace = raw_id(tenant.id)
        ids[workspace] = {
            "expired": await add_audit(admin_db, workspace, 400),
            "kept": await add_audit(admin_db, workspace, 30),
        }
    old_event, new_event = uuid.uuid4(), uuid.uuid4()
    for event_id, days in ((old_event, 200), (new_event, 10)):
        await admin_db.execute(
            "INSERT INTO security_events (id, occurred_at, kind) "
            "VALUES ($1, now() - make_interval(days => $2), 'login_failed')",
            event_id,
            days,
        )

    result = await purge_expired_records({"state": state})
    assert result["workspaces"] >= 2
    assert result["audit_rows"] >= 2
    assert result["security_events"] >= 1
    for workspace, rows in ids.items():
        remaining = {
            r["id"]
            for r in await admin_db.fetch(
                "SELECT id FROM audit_log WHERE workspace_id = $1", workspace
            )
        }
        assert rows["expired"] not in remaining
        assert rows["kept"] in remaining
        # The workspace's own recent events (creation...) are untouched.
        assert any(r != rows["kept"] for r in remaining)
    left = {r["id"] for r in await admin_db.fetch("SELECT id FROM security_events")}
    assert old_event not in left and new_event in left

    # Running it again finds nothing more to delete in those workspaces.
    again = await purge_expired_records({"state": state})
    assert again["audit_rows"] == 0


async def test_maintenance_role_sees_workspace_ids_only(
    services: RunningServices, settings: object, factory: Factory
) -> None:
    tenant = await factory.tenant("Private Name Co")
    conn = await asyncpg.connect(asyncpg_dsn(services.app_url))
    try:
        async with conn.transaction():
            # As itself, the application role sees no workspace without a tenant...
            assert await conn.fetchval("SELECT count(*) FROM workspaces") == 0
            await conn.execute("SET LOCAL ROLE parley_maintenance")
            ids = {r["id"] for r in await conn.fetch("SELECT id FROM workspaces")}
            assert raw_id(tenant.id) in ids
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE parley_maintenance")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("SELECT name FROM workspaces")
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE parley_maintenance")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("SELECT id FROM audit_log")
    finally:
        await conn.close()
