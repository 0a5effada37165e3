"""Opaque global ids and the `node(id:)` entry point.

A global id is base64url("<TypeName>:<uuid>"). Decoding never touches the database; fetching
runs under the request's tenant, so another workspace's id finds nothing, exactly as an id
that never existed.
"""

from __future__ import annotations

import binascii
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from app.b64 import urlsafe_bytes, urlsafe_text
from app.errors import ValidationFailed


@strawberry.interface(description="An object with a globally unique, opaque id.")
class Node:
    """Relay's Node interface."""

    id: strawberry.ID = strawberry.field(description="Globally unique, opaque id.")


def to_global_id(type_name: str, value: uuid.UUID) -> strawberry.ID:
    """Encode a type name and row id as an opaque id."""
    return urlsafe_text(f"{type_name}:{value}".encode())  # type: ignore[return-value]


def from_global_id(
    global_id: str, *, expected: str | None = None, field: str = "id"
) -> tuple[str, uuid.UUID]:
    """Decode an opaque id; a VALIDATION error when malformed or of the wrong type."""
    try:
        raw = urlsafe_bytes(global_id).decode()
        type_name, _, value = raw.partition(":")
        parsed = uuid.UUID(value)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{field} is not a valid id.", field=field) from exc
    if expected is not None and type_name != expected:
        article = "an" if expected[:1] in "AEIOU" else "a"
        raise ValidationFailed(f"{field} is not the id of {article} {expected}.", field=field)
    return type_name, parsed


def decode_id(global_id: strawberry.ID | str, expected: str, field: str = "id") -> uuid.UUID:
    """The row id inside an opaque id of type `expected`."""
    return from_global_id(str(global_id), expected=expected, field=field)[1]


NodeFetcher = Callable[[Any, uuid.UUID], Awaitable[Any]]
_FETCHERS: dict[str, NodeFetcher] = {}


def register_node(type_name: str, fetcher: NodeFetcher) -> None:
    """Let `node(id:)` resolve ids of `type_name` with `fetcher(info, uuid)`."""
    _FETCHERS[type_name] = fetcher


async def resolve_node(info: Any, global_id: str) -> Any:
    """The object an id names, or None when it does not exist for this caller."""
    type_name, value = from_global_id(global_id)
    fetcher = _FETCHERS.get(type_name)
    if fetcher is None:
        return None
    return await fetcher(info, value)
