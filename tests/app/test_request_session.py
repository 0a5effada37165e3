"""RequestSession (app/db/request.py): the request's transaction begins without a round trip
and, once it has ended, closes without one; a transaction still open on exit (an error, a
cancellation) is rolled back and its connection returned, as `async with session` does."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from app.db.request import RequestSession
from app.db.tenant import set_tenant
from app.graphql.node import decode_id
from app.state import AppState
from tests.support.factories import Factory
from tests.support.knowledge import add_document

RENAME = text("UPDATE documents SET title = :title WHERE id = :id")
TITLE = text("SELECT title FROM documents WHERE id = :id")


async def _document(factory: Factory) -> tuple[uuid.UUID, uuid.UUID]:
    tenant = await factory.tenant()
    doc = await add_document(tenant, "# Original\n\nThe first title.")
    return decode_id(tenant.id, "Workspace"), decode_id(doc["id"], "Document")


async def _title(state: AppState, workspace: uuid.UUID, document: uuid.UUID) -> str:
    async with RequestSession(state.sessions) as session:
        await set_tenant(session, workspace)
        title: str = (await session.execute(TITLE, {"id": document})).scalar_one()
        await session.commit()
    return title


async def test_a_committed_session_has_returned_its_connection(
    state: AppState, factory: Factory
) -> None:
    workspace, document = await _document(factory)
    pool = state.engine.sync_engine.pool
    before = pool.checkedout()  # type: ignore[attr-defined]
    async with RequestSession(state.sessions) as session:
        assert session.in_transaction()  # begun, with no connection yet
        assert pool.checkedout() == before  # type: ignore[attr-defined]
        await set_tenant(session, workspace)
        await session.execute(RENAME, {"title": "Renamed", "id": document})
        assert pool.checkedout() == before + 1  # type: ignore[attr-defined]
        await session.commit()
    assert not session.in_transaction()
    assert pool.checkedout() == before  # type: ignore[attr-defined]
    assert await _title(state, workspace, document) == "Renamed"


async def test_an_error_inside_rolls_back_and_returns_the_connection(
    state: AppState, factory: Factory
) -> None:
    workspace, document = await _document(factory)
    pool = state.engine.sync_engine.pool
    before = pool.checkedout()  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="resolver failed"):
        async with RequestSession(state.sessions) as session:
            await set_tenant(session, workspace)
            await session.execute(RENAME, {"title": "Half done", "id": document})
            raise RuntimeError("resolver failed")
    assert pool.checkedout() == before  # type: ignore[attr-defined]
    assert await _title(state, workspace, document) == "Original"


async def test_a_cancelled_request_rolls_back_and_returns_the_connection(
    state: AppState, factory: Factory
) -> None:
    workspace, document = await _document(factory)
    pool = state.engine.sync_engine.pool
    before = pool.checkedout()  # type: ignore[attr-defined]
    inside = asyncio.Event()

    async def request() -> None:
        async with RequestSession(state.sessions) as session:
            await set_tenant(session, workspace)
            await session.execute(RENAME, {"title": "Abandoned", "id": document})
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(request())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.checkedout() == before  # type: ignore[attr-defined]
    assert await _title(state, workspace, document) == "Original"
