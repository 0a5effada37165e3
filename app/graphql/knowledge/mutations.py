"""Mutation fields of the knowledge base: parse input, call a service, return a type.

Files arrive through the GraphQL multipart request spec (see app/graphql/uploads.py) as
`Upload` variables.
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.file_uploads import Upload

from app.errors import ValidationFailed
from app.graphql.context import Info
from app.graphql.knowledge.queries import faq_entries
from app.graphql.knowledge.types import Document, FaqEntry, KnowledgeBase, TextFormat
from app.graphql.node import decode_id
from app.graphql.permissions import IsDashboardCaller
from app.graphql.tenancy.types import DeletePayload
from app.knowledge import service as knowledge
from app.knowledge.service import UploadedFile


def _file(value: Any, field: str = "file") -> UploadedFile:
    if not isinstance(value, UploadedFile):
        raise ValidationFailed(
            f"{field} must be a file sent with the GraphQL multipart request format.",
            field=field,
        )
    return value


@strawberry.input(description="A document given inline.")
class AddDocumentInput:
    """Inline document content."""

    content: str = strawberry.field(description="The text (at most 500,000 characters).")
    format: TextFormat = strawberry.field(
        default=TextFormat.MARKDOWN, description="How to read the content."
    )
    title: str | None = strawberry.field(
        default=None, description="Title (1-300); the first line when omitted."
    )
    source_url: str | None = strawberry.field(
        default=None, description="Where the document lives; citations link to it."
    )


@strawberry.input(description="A document uploaded as a file.")
class UploadDocumentInput:
    """An uploaded file."""

    file: Upload = strawberry.field(
        description="A PDF, HTML, Markdown or plain-text file (at most 10 MiB by default)."
    )
    title: str | None = strawberry.field(
        default=None, description="Title (1-300); the file name when omitted."
    )
    source_url: str | None = strawberry.field(
        default=None, description="Where the document lives; citations link to it."
    )


@strawberry.input(description="New content for a document: inline or a file, not both.")
class ReplaceDocumentInput:
    """Replacement content."""

    id: strawberry.ID = strawberry.field(description="The document.")
    content: str | None = strawberry.field(default=None, description="New inline content.")
    format: TextFormat | None = strawberry.field(
        default=None, description="Format of the inline content (default: as before)."
    )
    file: Upload | None = strawberry.field(default=None, description="A new file.")
    title: str | None = strawberry.field(default=None, description="A new title.")


@strawberry.input(description="A new FAQ entry.")
class CreateFaqEntryInput:
    """Question and answer."""

    question: str = strawberry.field(description="The question (1-300 characters).")
    answer: str = strawberry.field(description="The answer (1-4000 characters).")


@strawberry.input(description="Changes to an FAQ entry.")
class UpdateFaqEntryInput:
    """New question and/or answer."""

    id: strawberry.ID = strawberry.field(description="The FAQ entry.")
    question: str | None = strawberry.field(default=None, description="A new question.")
    answer: str | None = strawberry.field(default=None, description="A new answer.")


@strawberry.type
class KnowledgeMutation:
    """Root mutation fields of the knowledge base."""

    @strawberry.mutation(
        description="Add a text, Markdown or HTML document; it is processed in the background "
        "(status QUEUED, then PROCESSING, READY or FAILED).",
        permission_classes=[IsDashboardCaller],
    )
    async def add_document(self, info: Info, input: AddDocumentInput) -> Document:
        """Add inline content."""
        ctx = info.context
        async with ctx.db() as session:
            doc = await knowledge.add_text_document(
                session,
                ctx.principal,
                ctx.state.settings,
                ctx.jobs,
                content=input.content,
                format=input.format.value,
                title=input.title,
                source_url=input.source_url,
            )
        return Document.from_model(doc)

    @strawberry.mutation(
        description="Upload a PDF, HTML, Markdown or plain-text file (GraphQL multipart "
        "request); it is processed in the background.",
        permission_classes=[IsDashboardCaller],
    )
    async def upload_document(self, info: Info, input: UploadDocumentInput) -> Document:
        """Add a file."""
        ctx = info.context
        async with ctx.db() as session:
            doc = await knowledge.upload_document(
                session,
                ctx.principal,
                ctx.state.settings,
                ctx.jobs,
                upload=_file(input.file),
                title=input.title,
                source_url=input.source_url,
            )
        return Document.from_model(doc)

    @strawberry.mutation(
        description="Replace a document's content; the old passages answer until the new "
        "ones are ready.",
        permission_classes=[IsDashboardCaller],
    )
    async def replace_document(self, info: Info, input: ReplaceDocumentInput) -> Document:
        """New content for a document."""
        ctx = info.context
        document_id = decode_id(input.id, "Document")
        upload = _file(input.file) if input.file is not None else None
        async with ctx.db() as session:
            doc = await knowledge.replace_document(
                session,
                ctx.principal,
                ctx.state.settings,
                ctx.jobs,
                document_id=document_id,
                content=input.content,
                format=input.format.value if input.format else None,
                upload=upload,
                title=input.title,
            )
        return Document.from_model(doc)

    @strawberry.mutation(
        description="Give a document a new title; its content is not processed again.",
        permission_classes=[IsDashboardCaller],
    )
    async def rename_document(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The document.")],
        title: Annotated[str, strawberry.argument(description="The new title.")],
    ) -> Document:
        """Rename a document."""
        ctx = info.context
        async with ctx.db() as session:
            doc = await knowledge.rename_document(
                session, ctx.principal, document_id=decode_id(id, "Document"), title=title
            )
        return Document.from_model(doc)

    @strawberry.mutation(
        description="Process a failed or stuck document again from its stored source.",
        permission_classes=[IsDashboardCaller],
    )
    async def reprocess_document(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The document.")],
    ) -> Document:
        """Re-run ingestion."""
        ctx = info.context
        async with ctx.db() as session:
            doc = await knowledge.reprocess_document(
                session, ctx.principal, ctx.jobs, document_id=decode_id(id, "Document")
            )
        return Document.from_model(doc)

    @strawberry.mutation(
        description="Delete a document and its passages.", permission_classes=[IsDashboardCaller]
    )
    async def delete_document(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The document.")],
    ) -> DeletePayload:
        """Delete a document."""
        async with info.context.db() as session:
            await knowledge.delete_document(
                session, info.context.principal, document_id=decode_id(id, "Document")
            )
        return DeletePayload(id=id)

    @strawberry.mutation(
        description="Add an FAQ entry; questions that match it closely get its answer.",
        permission_classes=[IsDashboardCaller],
    )
    async def create_faq_entry(self, info: Info, input: CreateFaqEntryInput) -> FaqEntry:
        """Add a question and answer."""
        ctx = info.context
        async with ctx.db() as session:
            doc = await knowledge.create_faq(
                session,
                ctx.principal,
                ctx.state.settings,
                ctx.jobs,
                question=input.question,
                answer=input.answer,
            )
        return (await faq_entries(info, [doc]))[0]

    @strawberry.mutation(
        description="Change an FAQ entry's question and/or answer.",
        permission_classes=[IsDashboardCaller],
    )
    async def update_faq_entry(self, info: Info, input: UpdateFaqEntryInput) -> FaqEntry:
        """Edit an FAQ entry."""
        ctx = info.context
        async with ctx.db() as session:
            doc = await knowledge.update_faq(
                session,
                ctx.principal,
                ctx.jobs,
                faq_id=decode_id(input.id, "FaqEntry"),
                question=input.question,
                answer=input.answer,
            )
        return (await faq_entries(info, [doc]))[0]

    @strawberry.mutation(description="Delete an FAQ entry.", permission_classes=[IsDashboardCaller])
    async def delete_faq_entry(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The FAQ entry.")],
    ) -> DeletePayload:
        """Delete an FAQ entry."""
        async with info.context.db() as session:
            await knowledge.delete_document(
                session, info.context.principal, document_id=decode_id(id, "FaqEntry"), faq=True
            )
        return DeletePayload(id=id)

    @strawberry.mutation(
        description="Choose the workspace's embedding model (admins). Everything is re-embedded "
        "in the background; search switches over only when that is done.",
        permission_classes=[IsDashboardCaller],
    )
    async def set_embedding_model(
        self,
        info: Info,
        model: Annotated[
            str,
            strawberry.argument(
                description="all-MiniLM-L6-v2 (local), text-embedding-3-small, "
                "text-embedding-3-large or text-embedding-ada-002."
            ),
        ],
    ) -> KnowledgeBase:
        """Switch embedding model."""
        ctx = info.context
        async with ctx.db() as session:
            kb = await knowledge.set_embedding_model(
                session, ctx.principal, ctx.state.settings, ctx.jobs, model=model
            )
        return KnowledgeBase.from_model(kb)
