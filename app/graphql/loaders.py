"""Every domain's DataLoaders, created per request."""

from __future__ import annotations

import enum
import uuid
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

import strawberry
from strawberry.dataloader import DataLoader

from app.graphql.knowledge import loaders as knowledge_loaders
from app.graphql.resolvers import Loaded
from app.graphql.tenancy import loaders as tenancy_loaders
from app.knowledge.repository import ChunkView
from tenancy.accounts.repository import UserCard

if TYPE_CHECKING:
    from app.graphql.context import Context

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")


class Loaders:
    """Loaders for one request; they cache only for its lifetime."""

    def __init__(self, ctx: Context) -> None:
        # The context holds its loaders; their batch functions reach it back through a
        # proxy, not a reference, so a finished request's context, loaders and loaded rows
        # are freed at once instead of by the cycle collector (see _helpers_of in
        # app.graphql.executor for why that matters). A batch runs during its request,
        # while the context is alive.
        ctx = weakref.proxy(ctx)
        self.users: DataLoader[uuid.UUID, UserCard | None] = DataLoader(
            tenancy_loaders.users_by_id(ctx)
        )
        self.chunks: DataLoader[knowledge_loaders.ChunkKey, list[ChunkView]] = DataLoader(
            knowledge_loaders.chunks_by_document(ctx)
        )
        # (loader, key, conversion) -> the converted value, for `now_or_later`.
        self.converted: dict[tuple[object, Hashable, object], Any] = {}


def now_or_later(
    loader: DataLoader[K, T],
    key: K,
    convert: Callable[[T], R],
    converted: dict[tuple[object, Hashable, object], Any] | None = None,
) -> R | Awaitable[R]:
    """`convert` of the loader's value for `key`: at once when the loader already holds it
    (a resolver upstream primed it, app.graphql.lookahead), else an awaitable that loads it
    in the next batch. Answering at once spares the executor a coroutine per item. With
    `converted` (the request's `Loaders.converted`) each key's value is converted once and
    the result shared: a page's 20 documents often have one author, and converting builds
    an object and its global id."""
    value = loaded_now(loader, key, convert, converted)
    return _later(loader, key, convert, converted) if value is NOT_LOADED else value


def loaded_now(
    loader: DataLoader[K, T],
    key: K,
    convert: Callable[[T], R],
    converted: dict[tuple[object, Hashable, object], Any] | None = None,
) -> R | _NotLoaded:
    """`now_or_later`'s answer when the loader already holds the value, else NOT_LOADED
    (nothing is loaded or scheduled)."""
    memo_key = (loader, key, convert)
    if converted is not None and memo_key in converted:
        known: R = converted[memo_key]
        return known
    future = loader.cache_map.get(key) if loader.cache else None
    if (
        future is not None
        and future.done()
        and not future.cancelled()
        and future.exception() is None
    ):
        return _convert_once(converted, memo_key, convert, future.result())
    return NOT_LOADED


class _NotLoaded(enum.Enum):
    NOT_LOADED = enum.auto()


NOT_LOADED = _NotLoaded.NOT_LOADED


def loaded(loader: str, key: str, convert: Callable[[Any], Any]) -> Callable[..., Any]:
    """A resolver answering `convert` of the value the request's loader `loader` (an
    attribute of Loaders) holds for the object's `key` attribute, None when that attribute
    is None: at once when the loader holds it, else batched (`now_or_later`). The executor
    reads such a field from the loader itself when it can (app.graphql.resolvers marks it),
    without calling this."""

    def resolve(root: Any, info: strawberry.Info) -> Any:
        value = getattr(root, key)
        if value is None:
            return None
        loaders = info.context.loaders
        return now_or_later(getattr(loaders, loader), value, convert, loaders.converted)

    resolve.loaded = Loaded(loader, key, convert)  # type: ignore[attr-defined]
    return resolve


async def _later(
    loader: DataLoader[K, T],
    key: K,
    convert: Callable[[T], R],
    converted: dict[tuple[object, Hashable, object], Any] | None,
) -> R:
    # Items that waited for the same key in one batch share one conversion too.
    return _convert_once(converted, (loader, key, convert), convert, await loader.load(key))


def _convert_once(
    converted: dict[tuple[object, Hashable, object], Any] | None,
    memo_key: tuple[object, Hashable, object],
    convert: Callable[[T], R],
    value: T,
) -> R:
    if converted is None:
        return convert(value)
    if memo_key not in converted:
        converted[memo_key] = convert(value)
    known: R = converted[memo_key]
    return known
