"""A real streaming replica of the test PostgreSQL: queries are served by it, mutations by the
primary, a writer reads its own writes, and row-level security holds on the replica."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from app.config import DatabaseSettings, Settings
from app.db.engine import asyncpg_dsn
from app.devstack.postgres import LocalPostgres
from app.server import create_app
from app.state import AppState
from tests.conftest import make_settings
from tests.ops.conftest import raw_id
from tests.ops.test_metrics import sample
from tests.support.factories import PASSWORD, Factory
from tests.support.graphql import GraphQL
from tests.support.services import DATABASE
from tests.support.services import TestServices as RunningServices

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replica(services: RunningServices, settings: Settings) -> Iterator[LocalPostgres]:
    """A hot standby streaming from the session's PostgreSQL."""
    standby = services.pg.clone_replica(services.root / f"replica-{uuid.uuid4().hex[:6]}")
    try:
        yield standby
    finally:
        standby.destroy()


@pytest.fixture
async def replica_admin(replica: LocalPostgres) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(replica.url("postgres", DATABASE)))
    try:
        yield conn
    finally:
        await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()


@pytest.fixture
async def routed(
    services: RunningServices, replica: LocalPostgres
) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    """An app whose queries go to the replica (read-your-writes window: 2 s)."""
    configured = make_settings(
        services,
        database=DatabaseSettings(
            url=services.app_url,
            admin_url=services.admin_url,
            pool_size=3,
            max_overflow=2,
            replica_urls=[replica.url("parley_app", DATABASE)],
            read_your_writes_s=2.0,
        ),
    )
    state = await AppState.create(configured)
    app = create_app(configured, state)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        yield client, state
    await state.close()


async def caught_up(primary: asyncpg.Connection, standby: asyncpg.Connection) -> None:
    """Until the replica has replayed everything the primary has written so far (the insert
    position: with synchronous_commit off, a commit may not be flushed yet)."""
    target = await primary.fetchval("SELECT pg_current_wal_insert_lsn()")
    for _ in range(400):
        if await standby.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the replica did not catch up")


async def routes(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    return {
        "replica": sample(text, "parley_db_routes_total", target="replica", reason="read"),
        "write": sample(text, "parley_db_routes_total", target="primary", reason="write"),
        "ryw": sample(text, "parley_db_routes_total", target="primary", reason="read_your_writes"),
        "fallback": sample(
            text, "parley_db_routes_total", target="primary", reason="replica_fallback"
        ),
        "refused": sample(text, "parley_cross_tenant_refusals_total", credential="user"),
    }


async def test_reads_go_to_the_replica_and_isolation_holds_there(
    routed: tuple[httpx.AsyncClient, AppState],
    factory: Factory,
    admin_db: asyncpg.Connection,
    replica_admin: asyncpg.Connection,
) -> None:
    client, _state = routed
    assert await replica_admin.fetchval("SELECT pg_is_in_recovery()")
    tenant = await factory.tenant("Replica Co")
    member_account, _ = await factory.member(tenant)
    stranger = await factory.tenant("Stranger Co")
    await caught_up(admin_db, replica_admin)
    owner = GraphQL(client, tenant.owner.token, tenant.id)
    member = GraphQL(client, member_account.token, tenant.id)

    # Freeze the replica: from here on it serves the state of this instant.
    await replica_admin.execute("SELECT pg_wal_replay_pause()")
    before = await routes(client)
    renamed = await owner.op("RenameWorkspace", {"name": "Replica Co Renamed"})
    assert renamed.data["renameWorkspace"]["name"] == "Replica Co Renamed"
    # The writer reads its own write (primary, for the read-your-writes window)...
    assert (await owner.op("CurrentWorkspace")).data["workspace"]["name"] == "Replica Co Renamed"
    # ...while another member is served by the frozen replica, which does not have it yet.
    assert (await member.op("CurrentWorkspace")).data["workspace"]["name"] == "Replica Co"
    # Isolation on the replica: a member of another workspace is refused there...
    intruder = GraphQL(client, stranger.owner.token, tenant.id)
    assert (await intruder.op("CurrentWorkspace")).code == "FORBIDDEN"
    # ...and its own workspace shows only its own data.
    own = (await GraphQL(client, stranger.owner.token, stranger.id).op("CurrentWorkspace")).data
    assert own["workspace"]["name"] == "Stranger Co"
    assert [e["node"]["user"]["email"] for e in own["workspace"]["members"]["edges"]] == [
        stranger.owner.email
    ]
    after = await routes(client)
    assert after["write"] - before["write"] == 1
    assert after["ryw"] - before["ryw"] == 1
    # member read + the stranger's own read; the refused attempt was retried on the primary.
    assert after["replica"] - before["replica"] == 3
    assert after["fallback"] - before["fallback"] == 1
    # Refused on the replica, then again on the primary: counted (and recorded) once.
    assert after["refused"] - before["refused"] == 1
    # The replica really had the application connected to it.
    connected = await replica_admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE usename = 'parley_app' AND application_name = 'parley'"
    )
    assert connected >= 1

    # Past the window, the writer reads from the replica again; once replay resumes, everyone
    # sees the new name.
    await asyncio.sleep(2.1)
    assert (await owner.op("CurrentWorkspace")).data["workspace"]["name"] == "Replica Co"
    await replica_admin.execute("SELECT pg_wal_replay_resume()")
    await caught_up(admin_db, replica_admin)
    assert (await member.op("CurrentWorkspace")).data["workspace"]["name"] == "Replica Co Renamed"


async def test_rls_on_the_replica_at_the_sql_level(
    services: RunningServices,
    replica: LocalPostgres,
    factory: Factory,
    admin_db: asyncpg.Connection,
    replica_admin: asyncpg.Connection,
) -> None:
    first, second = await factory.tenant("Rls A"), await factory.tenant("Rls B")
    await caught_up(admin_db, replica_admin)
    conn = await asyncpg.connect(asyncpg_dsn(replica.url("parley_app", DATABASE)))
    try:
        async with conn.transaction(readonly=True):
            assert await conn.fetchval("SELECT count(*) FROM workspaces") == 0
            assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0
            await conn.execute(
                "SELECT set_config('app.workspace_id', $1, true)", str(raw_id(first.id))
            )
            visible = {r["id"] for r in await conn.fetch("SELECT id FROM workspaces")}
            assert visible == {raw_id(first.id)}
            logs = {
                r["workspace_id"] for r in await conn.fetch("SELECT workspace_id FROM audit_log")
            }
            assert logs == {raw_id(first.id)}
            assert raw_id(second.id) not in logs
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("DELETE FROM audit_log")
    finally:
        await conn.close()


async def test_a_session_created_a_moment_ago_still_works_through_a_lagging_replica(
    routed: tuple[httpx.AsyncClient, AppState],
    admin_db: asyncpg.Connection,
    replica_admin: asyncpg.Connection,
) -> None:
    client, _ = routed
    await caught_up(admin_db, replica_admin)
    await replica_admin.execute("SELECT pg_wal_replay_pause()")
    email = f"fresh-{uuid.uuid4().hex[:8]}@example.com"
    signed = await GraphQL(client).op(
        "SignUp", {"input": {"email": email, "password": PASSWORD, "displayName": "Fresh"}}
    )
    token = signed.data["signUp"]["accessToken"]
    # The replica has never heard of this user or session; the request is retried on the
    # primary instead of failing.
    viewer = await GraphQL(client, token).op("Viewer")
    assert viewer.data["viewer"]["user"]["email"] == email
