"""Keyset pagination shared by every connection: opaque cursors over time-ordered ids."""

from __future__ import annotations

import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.b64 import urlsafe_bytes, urlsafe_text
from app.errors import ValidationFailed

T = TypeVar("T")

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A validated request for one page: up to `limit` items strictly after `after`."""

    limit: int
    after: uuid.UUID | None

    @property
    def fetch(self) -> int:
        """How many rows a page query reads: the page, and one more to learn whether
        another page follows (`make_page` trims it)."""
        return self.limit + 1


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results and whether more follow."""

    items: Sequence[T]
    has_next: bool
    has_previous: bool


def encode_cursor(value: uuid.UUID) -> str:
    """An opaque cursor for a position."""
    return urlsafe_text(b"c:" + value.bytes)


def decode_cursor(cursor: str) -> uuid.UUID:
    """The position a cursor names, or a VALIDATION error."""
    try:
        raw = urlsafe_bytes(cursor)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 18 or not raw.startswith(b"c:"):
        raise ValidationFailed("after is not a valid cursor.", field="after")
    return uuid.UUID(bytes=raw[2:])


def page_request(first: int | None, after: str | None) -> PageRequest:
    """Validate `first`/`after` arguments: first defaults to 20 and may be at most 100."""
    limit = PAGE_SIZE_DEFAULT if first is None else first
    if limit < 0 or limit > PAGE_SIZE_MAX:
        raise ValidationFailed(
            f"first must be between 0 and {PAGE_SIZE_MAX}.", field="first", max=PAGE_SIZE_MAX
        )
    return PageRequest(limit=limit, after=decode_cursor(after) if after else None)


def make_page(rows: Sequence[T], request: PageRequest) -> Page[T]:
    """Trim the extra row a repository fetched to learn whether another page exists."""
    return Page(
        items=rows[: request.limit],
        has_next=len(rows) > request.limit,
        has_previous=request.after is not None,
    )
