"""Hot reads on the driver (app/db/raw.py) stay inside the request's transaction, and so
under row-level security: asking for another workspace's rows by id finds nothing."""

from __future__ import annotations

import pytest

from app.db import raw
from app.db.tenant import set_tenant, tenant_transaction
from app.graphql.node import decode_id
from app.knowledge import repository
from app.pagination import PageRequest
from app.state import AppState
from tests.support.factories import Factory
from tests.support.knowledge import add_document

KINDS = ["text", "markdown", "html", "pdf"]


async def test_driver_reads_see_only_the_current_workspace(
    state: AppState, factory: Factory
) -> None:
    a, b = await factory.tenant("A"), await factory.tenant("B")
    doc_a = await add_document(a, "# A's secret\n\nOnly for A.")
    await add_document(b, "# B's page\n\nFor B.")
    ws_a, ws_b = decode_id(a.id, "Workspace"), decode_id(b.id, "Workspace")
    id_a = decode_id(doc_a["id"], "Document")
    page = PageRequest(limit=20, after=None)
    async with tenant_transaction(state.sessions, ws_b) as session:
        # B's transaction, asking by A's workspace id and A's document id: RLS answers.
        assert await repository.list_documents(session, ws_a, page, kinds=KINDS) == []
        assert await repository.get_document_row(session, ws_a, id_a) is None
        assert await repository.first_chunks(session, ws_a, [id_a], page) == {}
        assert await repository.document_with_chunks(session, ws_a, id_a, page) == (None, [])
        own = await repository.list_documents(session, ws_b, page, kinds=KINDS)
        assert [row.title for row in own] == ["B's page"]
    async with tenant_transaction(state.sessions, ws_a) as session:
        row = await repository.get_document_row(session, ws_a, id_a)
        assert row is not None and row.title == "A's secret"


async def test_driver_reads_refuse_to_run_outside_a_transaction(state: AppState) -> None:
    async with state.sessions() as session:
        with pytest.raises(RuntimeError, match="transaction"):
            await raw.fetch(session, repository._document_page(False, False, 21), {})


async def test_each_transaction_of_a_session_reads_on_its_own_connection(
    state: AppState, factory: Factory
) -> None:
    """The driver connection is remembered per transaction: the next transaction of the same
    session (another tenant here) reads through its own, under its own tenant."""
    a, b = await factory.tenant("A"), await factory.tenant("B")
    await add_document(a, "# A's page\n\nFor A.")
    await add_document(b, "# B's page\n\nFor B.")
    ws_a, ws_b = decode_id(a.id, "Workspace"), decode_id(b.id, "Workspace")
    page = PageRequest(limit=20, after=None)
    async with state.sessions() as session:
        async with session.begin():
            await set_tenant(session, ws_a)
            rows = await repository.list_documents(session, ws_a, page, kinds=KINDS)
            assert [row.title for row in rows] == ["A's page"]
            first = session.info[raw._DRIVER]
        async with session.begin():
            await set_tenant(session, ws_b)
            assert await repository.list_documents(session, ws_a, page, kinds=KINDS) == []
            rows = await repository.list_documents(session, ws_b, page, kinds=KINDS)
            assert [row.title for row in rows] == ["B's page"]
            assert session.info[raw._DRIVER][0] is not first[0]  # looked up again
