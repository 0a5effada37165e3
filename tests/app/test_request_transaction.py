"""RequestTransaction (app/db/request.py): a request's transaction begun and ended on the
driver, with the session's ORM statements inside it. Raw and ORM statements are one
transaction under one tenant; COMMIT keeps both, an error or a cancellation loses both; the
cache's invalidations wait for the request's COMMIT, not the session's; and the connection
always goes back to the pool, or is discarded when its state is unknown."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text

from app.cache.commit import announced, invalidate_after_commit
from app.cache.tiered import CacheSpec
from app.config import Settings
from app.db import raw
from app.db.availability import database_unreachable
from app.db.request import RequestTransaction
from app.db.tenant import set_tenant
from app.graphql.node import decode_id
from app.knowledge.models import Document
from app.state import AppState
from tests.app.test_isolation import admin_fetch
from tests.support.factories import Factory
from tests.support.knowledge import add_document

RENAME = "UPDATE documents SET title = $1 WHERE id = $2"
TITLE = text("SELECT title FROM documents WHERE id = :id")
BACKEND = text("SELECT pg_backend_pid()")
SPEC = CacheSpec("request-tx", lambda v: v.encode(), lambda b: b.decode())


@dataclass
class Setting:
    """A workspace's document titled "Original", and the pool's checked-out count now."""

    workspace: uuid.UUID
    document: uuid.UUID
    pool: Any
    before: int

    def checked_out(self) -> int:
        return int(self.pool.checkedout())


async def _setting(state: AppState, factory: Factory) -> Setting:
    tenant = await factory.tenant()
    doc = await add_document(tenant, "# Original\n\nThe first title.")
    pool = state.engine.sync_engine.pool
    return Setting(
        decode_id(tenant.id, "Workspace"),
        decode_id(doc["id"], "Document"),
        pool,
        pool.checkedout(),  # type: ignore[attr-defined]
    )


def _document(at: Setting) -> Any:
    return select(Document).where(Document.id == at.document)


async def _title(state: AppState, at: Setting) -> str:
    async with state.sessions() as session, session.begin():
        await set_tenant(session, at.workspace)
        title: str = (await session.execute(TITLE, {"id": at.document})).scalar_one()
    return title


async def test_raw_and_orm_statements_are_one_transaction_under_one_tenant(
    state: AppState, factory: Factory
) -> None:
    at = await _setting(state, factory)
    transaction = RequestTransaction(state.sessions)
    async with transaction as session:
        assert at.checked_out() == at.before + 1
        await set_tenant(session, at.workspace)  # on the driver
        # The ORM sees the tenant the driver set (row-level security would hide the row in
        # any other transaction) and the driver's uncommitted write.
        await raw.execute(session, RENAME, "Raw", at.document)
        doc = (await session.execute(_document(at))).scalar_one()
        assert doc.title == "Raw"
        pid = (await session.execute(BACKEND)).scalar_one()
        assert pid == await raw.request_driver(session).fetchval("SELECT pg_backend_pid()")  # type: ignore[union-attr]
        doc.title = "Raw, then ORM"
        await transaction.commit()
    assert at.checked_out() == at.before
    assert raw.request_driver(session) is None
    assert await _title(state, at) == "Raw, then ORM"


async def test_a_rollback_loses_the_orm_and_the_raw_writes(
    state: AppState, factory: Factory
) -> None:
    at = await _setting(state, factory)
    transaction = RequestTransaction(state.sessions)
    async with transaction as session:
        await set_tenant(session, at.workspace)
        doc = (await session.execute(_document(at))).scalar_one()
        doc.title = "ORM"
        await session.flush()
        await raw.execute(session, RENAME, "Raw", at.document)
        await transaction.rollback()
    assert at.checked_out() == at.before
    assert await _title(state, at) == "Original"


async def test_an_added_object_is_flushed_by_the_commit(state: AppState, factory: Factory) -> None:
    at = await _setting(state, factory)
    added = uuid.uuid4()
    transaction = RequestTransaction(state.sessions)
    async with transaction as session:
        await set_tenant(session, at.workspace)
        session.add(
            Document(
                workspace_id=at.workspace,
                id=added,
                kind="faq",
                title="Added",
                size_bytes=1,
                sha256=b"\x00",
                status="ready",
            )
        )
        # Nothing has gone through the ORM yet: the commit must flush it.
        await transaction.commit()
    async with state.sessions() as check, check.begin():
        await set_tenant(check, at.workspace)
        assert (await check.execute(TITLE, {"id": added})).scalar_one() == "Added"


async def test_an_error_inside_rolls_back_and_returns_the_connection(
    state: AppState, factory: Factory
) -> None:
    at = await _setting(state, factory)
    with pytest.raises(RuntimeError, match="resolver failed"):
        async with RequestTransaction(state.sessions) as session:
            await set_tenant(session, at.workspace)
            await raw.execute(session, RENAME, "Half done", at.document)
            await session.execute(_document(at))
            raise RuntimeError("resolver failed")
    assert at.checked_out() == at.before
    assert await _title(state, at) == "Original"


async def test_a_cancelled_request_rolls_back_and_returns_the_connection(
    state: AppState, factory: Factory
) -> None:
    at = await _setting(state, factory)
    inside = asyncio.Event()

    async def request() -> None:
        async with RequestTransaction(state.sessions) as session:
            await set_tenant(session, at.workspace)
            await raw.execute(session, RENAME, "Abandoned", at.document)
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(request())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert at.checked_out() == at.before
    assert await _title(state, at) == "Original"


async def test_a_connection_lost_mid_request_is_discarded_not_pooled(
    state: AppState, factory: Factory, settings: Settings
) -> None:
    at = await _setting(state, factory)
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for it
        async with RequestTransaction(state.sessions) as session:
            await set_tenant(session, at.workspace)
            driver = raw.request_driver(session)
            assert driver is not None
            pid = await driver.fetchval("SELECT pg_backend_pid()")
            assert await admin_fetch(settings, "SELECT pg_terminate_backend($1)", pid)
            await raw.execute(session, RENAME, "Lost", at.document)
    assert at.checked_out() == at.before
    # The pool holds no dead connection: every idle one answers.
    async with state.sessions() as session, session.begin():
        await set_tenant(session, at.workspace)
        assert (await session.execute(TITLE, {"id": at.document})).scalar_one() == "Original"


async def test_invalidations_wait_for_the_requests_commit(state: AppState) -> None:
    hub = state.cache
    cache = hub.cache(SPEC)
    key = uuid.uuid4().hex
    entry = f"request-tx:{key}"

    async def kept() -> str:
        return "kept"

    assert await cache.get(key, kept) == "kept"
    transaction = RequestTransaction(state.sessions)
    async with transaction as session:
        await set_tenant(session, None)
        invalidate_after_commit(session, "request-tx", key)
        await session.execute(text("SELECT 1"))  # the ORM's savepoint
        await transaction.rollback()
    assert hub.local.get(entry, time.monotonic()) is not None  # rolled back: nothing forgotten

    transaction = RequestTransaction(state.sessions)
    async with transaction as session:
        await set_tenant(session, None)
        invalidate_after_commit(session, "request-tx", key)
        await session.execute(text("SELECT 1"))
        await session.commit()  # releases the savepoint only: the change is not visible yet
        assert hub.local.get(entry, time.monotonic()) is not None
        await transaction.commit()
        assert hub.local.get(entry, time.monotonic()) is None
        await announced(session)


async def test_an_orm_statement_interrupted_mid_request_still_rolls_back_cleanly(
    state: AppState, factory: Factory
) -> None:
    """A resolver cancelled while the ORM waits on the database (a sibling root field failed)
    makes SQLAlchemy close the connection; the request's rollback must still answer."""
    at = await _setting(state, factory)
    transaction = RequestTransaction(state.sessions)
    async with transaction as session:
        await set_tenant(session, at.workspace)
        await raw.execute(session, RENAME, "Interrupted", at.document)
        slow = asyncio.create_task(session.execute(text("SELECT pg_sleep(5)")))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        await transaction.rollback()
    assert at.checked_out() == at.before
    assert await _title(state, at) == "Original"


async def test_dead_pooled_connections_answer_unreachable_once_and_the_pool_recovers(
    state: AppState, settings: Settings
) -> None:
    """A restarted server leaves every pooled connection dead. The first request to check one
    out fails as an unreachable database (the API answers 503), and SQLAlchemy, seeing it,
    replaces every pooled connection: the next request works."""

    async def hold(held: asyncio.Event) -> int:
        async with RequestTransaction(state.sessions) as session:
            await set_tenant(session, None)
            driver = raw.request_driver(session)
            assert driver is not None
            pid: int = await driver.fetchval("SELECT pg_backend_pid()")
            await held.wait()
        return pid

    held = asyncio.Event()
    holders = [asyncio.create_task(hold(held)) for _ in range(3)]
    await asyncio.sleep(0.2)
    held.set()
    # Three connections back in the pool, all to be killed: only this pool's, so the other
    # stacks the session's tests share the database with keep theirs.
    pids = await asyncio.gather(*holders)
    await admin_fetch(settings, "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", pids)
    await asyncio.sleep(0.1)
    with pytest.raises(Exception) as caught:
        async with RequestTransaction(state.sessions) as session:
            await set_tenant(session, None)
    assert database_unreachable(caught.value)
    for _ in range(3):
        transaction = RequestTransaction(state.sessions)
        async with transaction as session:
            await set_tenant(session, None)
            await transaction.commit()


async def test_a_request_sees_only_its_tenant_and_leaves_none_behind(
    state: AppState, factory: Factory
) -> None:
    """Cross-tenant: in a request scoped to one workspace, neither the driver nor the ORM
    (in its savepoint) reads another's document; and no request's tenant outlives its
    transaction on the pooled connection the next request gets."""
    ours, theirs = await _setting(state, factory), await _setting(state, factory)
    for _ in range(4):
        for at, other in ((ours, theirs), (theirs, ours)):
            transaction = RequestTransaction(state.sessions)
            async with transaction as session:
                driver = raw.request_driver(session)
                assert driver is not None
                left = await driver.fetchval("SELECT current_setting('app.workspace_id', true)")
                assert left in (None, "")  # nothing carried over from the previous request
                await set_tenant(session, at.workspace)
                assert (
                    await driver.fetchval(
                        "SELECT count(*) FROM documents WHERE id = $1", other.document
                    )
                    == 0
                )
                orm = await session.execute(
                    select(Document.id).where(Document.id.in_([at.document, other.document]))
                )
                assert orm.scalars().all() == [at.document]
                await transaction.commit()
