"""Every domain's DataLoaders, created per request."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from app.graphql.knowledge import loaders as knowledge_loaders
from app.graphql.tenancy import loaders as tenancy_loaders
from app.knowledge.repository import ChunkView
from tenancy.accounts.repository import UserCard

if TYPE_CHECKING:
    from app.graphql.context import Context


class Loaders:
    """Loaders for one request; they cache only for its lifetime."""

    def __init__(self, ctx: Context) -> None:
        self.users: DataLoader[uuid.UUID, UserCard | None] = DataLoader(
            tenancy_loaders.users_by_id(ctx)
        )
        self.chunks: DataLoader[knowledge_loaders.ChunkKey, list[ChunkView]] = DataLoader(
            knowledge_loaders.chunks_by_document(ctx)
        )
