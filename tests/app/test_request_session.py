"""RequestSession (app/db/request.py): the request's transaction begins without a round trip
and, once it has ended, closes without one; a transaction still open on exit (an error, a
cancellation) is rolled back and its connection returned, as `async with session` does."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

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


async def _title(state: AppState, workspace: uuid.UUID, document: uuid.UUID) -> str:
    async with RequestSession(state.sessions) as session:
        await set_tenant(session, workspace)
        title: str = (await session.execute(TITLE, {"id": document})).scalar_one()
        await session.commit()
    return title


async def test_a_committed_session_has_returned_its_connection(
    state: AppState, factory: Factory
) -> None:
    at = await _setting(state, factory)
    async with RequestSession(state.sessions) as session:
        assert session.in_transaction()  # begun, with no connection yet
        assert at.checked_out() == at.before
        await set_tenant(session, at.workspace)
        await session.execute(RENAME, {"title": "Renamed", "id": at.document})
        assert at.checked_out() == at.before + 1
        await session.commit()
    assert not session.in_transaction()
    assert at.checked_out() == at.before
    assert await _title(state, at.workspace, at.document) == "Renamed"


async def test_an_error_inside_rolls_back_and_returns_the_connection(
    state: AppState, factory: Factory
) -> None:
    at = await _setting(state, factory)
    with pytest.raises(RuntimeError, match="resolver failed"):
        async with RequestSession(state.sessions) as session:
            await set_tenant(session, at.workspace)
            await session.execute(RENAME, {"title": "Half done", "id": at.document})
            raise RuntimeError("resolver failed")
    assert at.checked_out() == at.before
    assert await _title(state, at.workspace, at.document) == "Original"


async def test_a_cancelled_request_rolls_back_and_returns_the_connection(
    state: AppState, factory: Factory
) -> None:
    at = await _setting(state, factory)
    inside = asyncio.Event()

    async def request() -> None:
        async with RequestSession(state.sessions) as session:
            await set_tenant(session, at.workspace)
            await session.execute(RENAME, {"title": "Abandoned", "id": at.document})
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(request())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert at.checked_out() == at.before
    assert await _title(state, at.workspace, at.document) == "Original"
