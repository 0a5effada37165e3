"""Relay connection types, generic over the node type."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from app.pagination import Page, encode_cursor

T = TypeVar("T")
R = TypeVar("R")


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    """Relay page info."""

    has_next_page: bool = strawberry.field(description="True when more items follow.")
    has_previous_page: bool = strawberry.field(
        description="True when this page was requested with a cursor."
    )
    start_cursor: str | None = strawberry.field(description="Cursor of the first item.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item; pass as `after` for the next page."
    )


@strawberry.type(description="An item in a page, with its cursor.")
class Edge(Generic[T]):
    """Relay edge."""

    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items.")
class Connection(Generic[T]):
    """Relay connection: at most 100 items per page."""

    edges: list[Edge[T]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")

    @property
    def nodes(self) -> list[T]:
        """The items without edges (for Python callers)."""
        return [edge.node for edge in self.edges]


def connection(
    page: Page[R], convert: Callable[[R], T], key: Callable[[R], uuid.UUID]
) -> Connection[T]:
    """Build a connection from a service's page, converting each row to its GraphQL type."""
    edges: Sequence[Edge[T]] = [
        Edge(cursor=encode_cursor(key(item)), node=convert(item)) for item in page.items
    ]
    return Connection(
        edges=list(edges),
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
