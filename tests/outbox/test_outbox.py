"""The job outbox in-process: jobs are recorded with the commit (and only with it), handed to
arq right after it, kept while Redis is down, and delivered by the relay once it is back;
relays never send the same row twice at once, and the rows are isolated per workspace."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from app.admin import system_principal
from app.config import OutboxSettings, Settings
from app.db.tenant import tenant_transaction
from app.devstack.redis import LocalRedis
from app.jobs import JobBuffer
from app.knowledge import service as knowledge
from app.outbox import relay, repository
from app.state import AppState
from tests.support.factories import Factory
from tests.support.knowledge import row_id


@dataclasses.dataclass
class Queue:
    """A private Redis with an arq pool on it, which a test may stop and start."""

    server: LocalRedis
    pool: Any

    async def job_ids(self) -> set[str]:
        keys = await self.pool.keys("arq:job:*")
        return {k.decode().removeprefix("arq:job:") for k in keys}


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[Queue]:
    server = LocalRedis(datadir=tmp_path / "redis")
    server.start()
    pool = await create_pool(RedisSettings.from_dsn(server.url))
    try:
        yield Queue(server, pool)
    finally:
        await pool.aclose()
        server.stop()


@pytest.fixture
def relay_state(state: AppState, settings: Settings) -> AppState:
    """The session's state with no relay grace, so a round takes every waiting job."""
    outbox = OutboxSettings(relay_grace_s=0, enqueue_timeout_s=0.5)
    return dataclasses.replace(state, settings=settings.model_copy(update={"outbox": outbox}))


async def add_document(state: AppState, settings: Settings, ws: uuid.UUID, jobs: JobBuffer) -> str:
    async with tenant_transaction(state.sessions, ws) as session:
        doc = await knowledge.add_text_document(
            session,
            system_principal(ws),
            settings,
            jobs,
            content="Opening hours: 9 to 5.",
            format="text",
        )
        await jobs.stage(session)
    return f"ingest:{doc.id}:1"


async def outbox_job_ids(state: AppState, ws: uuid.UUID) -> list[str]:
    async with tenant_transaction(state.sessions, ws) as session:
        rows = await session.scalars(text("SELECT job_id FROM job_outbox ORDER BY created_at"))
        return list(rows)


async def test_jobs_commit_with_the_data_and_leave_the_outbox_once_enqueued(
    state: AppState, settings: Settings, factory: Factory, queue: Queue
) -> None:
    ws = row_id((await factory.tenant()).id)
    jobs = JobBuffer()
    job_id = await add_document(state, settings, ws, jobs)
    assert await outbox_job_ids(state, ws) == [job_id]  # committed together with the document
    async with state.sessions() as session:
        assert await jobs.deliver(queue.pool, session, 1.0) == 1
    assert await outbox_job_ids(state, ws) == []
    assert job_id in await queue.job_ids()


async def test_a_rolled_back_transaction_records_no_job(
    state: AppState, settings: Settings, factory: Factory
) -> None:
    ws = row_id((await factory.tenant()).id)
    jobs = JobBuffer()
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with tenant_transaction(state.sessions, ws) as session:
            await knowledge.add_text_document(
                session, system_principal(ws), settings, jobs, content="Draft.", format="text"
            )
            await jobs.stage(session)
            raise RuntimeError("changed my mind")
    jobs.discard()
    assert await outbox_job_ids(state, ws) == []


async def test_jobs_wait_out_a_redis_outage_and_the_relay_delivers_them(
    state: AppState, relay_state: AppState, settings: Settings, factory: Factory, queue: Queue
) -> None:
    ws = row_id((await factory.tenant()).id)
    jobs = JobBuffer()
    job_id = await add_document(state, settings, ws, jobs)
    queue.server.stop()
    started = time.monotonic()
    async with state.sessions() as session:
        assert await jobs.deliver(queue.pool, session, 0.5) == 0
    assert time.monotonic() - started < 2  # the request is not held up by a dead Redis
    assert await outbox_job_ids(state, ws) == [job_id]
    down = await relay.relay_once(relay_state, queue.pool)
    assert down.delivered == 0 and down.depth >= 1
    assert await outbox_job_ids(state, ws) == [job_id]

    queue.server.start()
    for _ in range(50):  # the pool reconnects on its own
        up = await relay.relay_once(relay_state, queue.pool)
        if up.delivered:
            break
        await asyncio.sleep(0.1)
    assert await outbox_job_ids(state, ws) == []
    assert job_id in await queue.job_ids()


async def test_relays_skip_jobs_another_relay_holds(
    state: AppState, relay_state: AppState, settings: Settings, factory: Factory, queue: Queue
) -> None:
    ws = row_id((await factory.tenant()).id)
    jobs = JobBuffer()
    job_id = await add_document(state, settings, ws, jobs)
    async with tenant_transaction(state.sessions, ws) as holding:
        held = await repository.lock_due(holding, ws, older_than=dt.timedelta(0), limit=10)
        assert [j.job_id for j in held] == [job_id]
        other = await relay.relay_once(relay_state, queue.pool)
        assert job_id not in await queue.job_ids()
        assert other.depth >= 1
    await relay.relay_once(relay_state, queue.pool)
    assert job_id in await queue.job_ids()
    assert await outbox_job_ids(state, ws) == []


async def test_outbox_rows_are_isolated_per_workspace(
    state: AppState, settings: Settings, factory: Factory
) -> None:
    a = row_id((await factory.tenant()).id)
    b = row_id((await factory.tenant()).id)
    await add_document(state, settings, a, JobBuffer())
    assert await outbox_job_ids(state, a)
    assert await outbox_job_ids(state, b) == []
    async with tenant_transaction(state.sessions, b) as session:
        moved = await session.execute(
            text("UPDATE job_outbox SET workspace_id = :b WHERE workspace_id = :a"),
            {"a": a, "b": b},
        )
        assert moved.rowcount == 0  # type: ignore[attr-defined]
    # The maintenance role sees which workspaces wait, never what their jobs carry.
    role = settings.database.maintenance_role
    with pytest.raises(ProgrammingError, match="permission denied"):
        async with state.sessions() as session, session.begin():
            await session.execute(text(f'SET LOCAL ROLE "{role}"'))
            await session.execute(text("SELECT args FROM job_outbox"))


def test_a_job_must_take_its_workspace_first() -> None:
    with pytest.raises(ValueError, match="workspace id"):
        JobBuffer().add("send_report", "not-a-workspace")
