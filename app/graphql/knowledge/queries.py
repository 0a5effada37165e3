"""Query fields of the knowledge base."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

import strawberry

from app.errors import ParleyError
from app.graphql.context import Info
from app.graphql.knowledge.types import (
    Document,
    DocumentStatus,
    FaqEntry,
    KnowledgeBase,
    SearchHit,
    chunks_asked,
)
from app.graphql.lookahead import selects
from app.graphql.node import decode_id, register_node, to_global_id
from app.graphql.pagination import Connection, connection
from app.graphql.permissions import IsDashboardCaller
from app.knowledge import service as knowledge
from app.knowledge.models import Document as DocumentModel
from app.knowledge.repository import DocumentRow
from app.pagination import page_request


async def faq_entries(info: Info, docs: Sequence[DocumentModel | DocumentRow]) -> list[FaqEntry]:
    """FAQ entries with their answers (one query for all)."""
    if not docs:
        return []
    async with info.context.db() as session:
        answers = await knowledge.document_text(session, docs[0].workspace_id, [d.id for d in docs])
    return [FaqEntry.from_model(d, answers.get(d.id, "")) for d in docs]


async def _document_node(info: Info, value: uuid.UUID) -> Document | None:
    try:
        async with info.context.db() as session:
            doc = await knowledge.get_document(session, info.context.principal, value)
    except ParleyError:
        return None
    return Document.from_model(doc) if doc and doc.kind != "faq" else None


async def _faq_node(info: Info, value: uuid.UUID) -> FaqEntry | None:
    try:
        async with info.context.db() as session:
            doc = await knowledge.get_document(session, info.context.principal, value)
    except ParleyError:
        return None
    if doc is None or doc.kind != "faq":
        return None
    return (await faq_entries(info, [doc]))[0]


register_node("Document", _document_node)
register_node("FaqEntry", _faq_node)


@strawberry.type
class KnowledgeQuery:
    """Root query fields of the knowledge base."""

    @strawberry.field(
        description="The current workspace's knowledge settings.",
        permission_classes=[IsDashboardCaller],
    )
    async def knowledge_base(self, info: Info) -> KnowledgeBase:
        """Embedding model, version and size."""
        async with info.context.db() as session:
            kb = await knowledge.get_knowledge_base(
                session, info.context.principal, info.context.state.settings
            )
        return KnowledgeBase.from_model(kb)

    @strawberry.field(
        description="Documents of the current workspace, newest first.",
        permission_classes=[IsDashboardCaller],
    )
    async def documents(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (at most 100).")
        ] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor to continue after.")
        ] = None,
        status: Annotated[
            DocumentStatus | None, strawberry.argument(description="Only documents in this state.")
        ] = None,
    ) -> Connection[Document]:
        """Paged documents."""
        request = page_request(first, after)
        principal, wanted = info.context.principal, status.value if status else None
        async with info.context.db() as session:
            if selects(info, "edges", "node", "addedBy"):
                # The authors come with the page (one statement), and the user loader is
                # primed with them, so each addedBy answers at once.
                page, authors = await knowledge.list_documents_with_authors(
                    session, principal, request, status=wanted
                )
                info.context.loaders.users.prime_many(authors)
            else:
                page = await knowledge.list_documents(session, principal, request, status=wanted)
        return connection(page, Document.from_model, lambda d: d.id)

    @strawberry.field(
        description="One document of the current workspace, or null.",
        permission_classes=[IsDashboardCaller],
    )
    async def document(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The document's id.")],
    ) -> Document | None:
        """A document by id."""
        value, principal = decode_id(id, "Document"), info.context.principal
        page = chunks_asked(info)
        async with info.context.db() as session:
            if page is None:
                doc = await knowledge.get_document(session, principal, value)
            else:
                # Its first chunk page comes in the same statement, and the chunk loader is
                # primed with it, so `chunks` answers without a query of its own.
                doc, chunks = await knowledge.get_document_with_chunks(
                    session, principal, value, page
                )
                info.context.loaders.chunks.prime((value, page), chunks)
        return Document.from_model(doc) if doc and doc.kind != "faq" else None

    @strawberry.field(
        description="FAQ entries of the current workspace, newest first.",
        permission_classes=[IsDashboardCaller],
    )
    async def faq_entries(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (at most 100).")
        ] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor to continue after.")
        ] = None,
    ) -> Connection[FaqEntry]:
        """Paged FAQ entries."""
        request = page_request(first, after)
        async with info.context.db() as session:
            page = await knowledge.list_documents(
                session, info.context.principal, request, faq=True
            )
        entries = {e.id: e for e in await faq_entries(info, list(page.items))}
        return connection(page, lambda d: entries[to_global_id("FaqEntry", d.id)], lambda d: d.id)

    @strawberry.field(
        description="Passages of the current workspace that best match a query (meaning and "
        "words combined).",
        permission_classes=[IsDashboardCaller],
    )
    async def search(
        self,
        info: Info,
        query: Annotated[str, strawberry.argument(description="What to look for (1-2000).")],
        k: Annotated[int, strawberry.argument(description="How many passages (1-50).")] = 10,
    ) -> list[SearchHit]:
        """Hybrid search."""
        async with info.context.db() as session:
            passages = await knowledge.search(
                session, info.context.principal, info.context.state.settings, query=query, k=k
            )
        return [SearchHit.from_passage(p) for p in passages]
