"""`now_or_later`: a primed key answers at once, converted once per request when given the
request's memo; an unprimed key answers through the next batch. Loaded fields answer the
same whether the executor reads them from the loader or calls their resolver."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from strawberry.dataloader import DataLoader

from app.graphql.executor import ParleyExecutionContext
from app.graphql.loaders import loaded, now_or_later
from app.graphql.resolvers import direct_plain_fields


async def _load(keys: list[int]) -> list[str]:
    return [f"value {key}" for key in keys]


async def test_a_primed_key_is_converted_once_and_shared() -> None:
    loader: DataLoader[int, str] = DataLoader(_load)
    await loader.load_many([1, 2])
    conversions: list[str] = []

    def convert(value: str) -> dict[str, str]:
        conversions.append(value)
        return {"name": value}

    memo: dict[tuple[object, object, object], object] = {}
    first = now_or_later(loader, 1, convert, memo)
    again = now_or_later(loader, 1, convert, memo)
    other = now_or_later(loader, 2, convert, memo)
    assert first == {"name": "value 1"} and again is first
    assert other == {"name": "value 2"}
    assert conversions == ["value 1", "value 2"]
    # Without the memo each call converts.
    assert now_or_later(loader, 1, convert) == first
    assert conversions == ["value 1", "value 2", "value 1"]


async def test_an_unprimed_key_is_loaded_in_the_next_batch() -> None:
    loader: DataLoader[int, str] = DataLoader(_load)
    memo: dict[tuple[object, object, object], object] = {}
    pending = now_or_later(loader, 3, str.upper, memo)
    assert inspect.isawaitable(pending)
    assert await pending == "VALUE 3"


async def test_items_waiting_for_one_key_share_its_conversion() -> None:
    loader: DataLoader[int, str] = DataLoader(_load)
    memo: dict[tuple[object, object, object], object] = {}
    conversions: list[str] = []

    def convert(value: str) -> dict[str, str]:
        conversions.append(value)
        return {"name": value}

    waiting = [now_or_later(loader, 4, convert, memo) for _ in range(3)]
    assert all(inspect.isawaitable(item) for item in waiting)
    first, *others = await asyncio.gather(*waiting)  # type: ignore[arg-type]
    assert first == {"name": "value 4"} and all(other is first for other in others)
    assert conversions == ["value 4"]
    assert now_or_later(loader, 4, convert, memo) is first  # and later ones, at once


# Loaded fields (`loaded`): the executor reads them from the loader when it holds the value.


@strawberry.type
class Person:
    name: str


@strawberry.interface
class Labelled:
    label: str


@strawberry.type
class Badge(Labelled):
    """Implements an interface, so its objects' type is checked."""


def _person(card: str | None) -> Person | None:
    return None if card is None or card == "gone" else Person(name=card)


def _badge(card: str | None) -> Any:
    # "odd" converts to an object of another type: the ordinary path reports it.
    return Person(name="odd") if card == "odd" else Badge(label=f"badge {card}")


@strawberry.type
class Post:
    title: str
    author_id: strawberry.Private[int | None]
    author: Person | None = strawberry.field(resolver=loaded("people", "author_id", _person))
    badge: Badge = strawberry.field(resolver=loaded("badges", "author_id", _badge))


class _Loaders:
    def __init__(self) -> None:
        self.people: DataLoader[int, str | None] = DataLoader(self._cards)
        self.badges: DataLoader[int, str | None] = DataLoader(self._cards)
        self.converted: dict[tuple[object, object, object], object] = {}
        self.batches: list[list[int]] = []

    async def _cards(self, keys: list[int]) -> list[str | None]:
        self.batches.append(list(keys))
        return ["gone" if key == 4 else "odd" if key == 5 else f"person {key}" for key in keys]


@dataclass
class _Context:
    loaders: _Loaders


POSTS = [(1, "a"), (2, "b"), (1, "c"), (None, "d"), (4, "e"), (3, "f")]


def _posts(keys: list[int | None]) -> list[Post | None]:
    return [Post(title=f"post {n}", author_id=key) for n, key in enumerate(keys)]


@strawberry.type
class PostQuery:
    @strawberry.field
    def posts(self) -> list[Post]:
        return [Post(title=title, author_id=key) for key, title in POSTS]

    @strawberry.field
    def badged(self) -> list[Post]:
        return _posts([1, 2, 1, 3])  # type: ignore[return-value]

    @strawberry.field
    def odd(self) -> list[Post | None]:
        return _posts([5, 1])  # 5's badge converts to a Person

    @strawberry.field
    def unbadged(self) -> list[Post | None]:
        return _posts([1, None])  # no key for a non-null field


class _Counting(ParleyExecutionContext):
    infos = 0

    def build_resolve_info(self, *args: Any) -> Any:
        type(self).infos += 1
        return super().build_resolve_info(*args)


# A query, and how many resolve infos Parley's executor builds for it when the loaders
# hold every key: the root field's, and one per loaded field its resolver must decide (a
# value converting to None, an object of the wrong type, a null key in a non-null field).
LOADED = [
    ("{ posts { title author { name } } }", 2),
    ("{ posts { author { ... on Person { n: name } } } }", 2),
    ("{ badged { title badge { label } author { name } } }", 1),
    ("{ odd { title badge { label } } }", 2),
    ("{ unbadged { title badge { label } } }", 2),
]


@pytest.mark.parametrize(("query", "infos"), LOADED)
@pytest.mark.parametrize("primed", [False, True])
async def test_loaded_fields_answer_like_their_resolvers(
    query: str, infos: int, primed: bool
) -> None:
    """Through Parley's executor, with the loaders primed or not, a loaded field answers as
    Strawberry answers it by calling the resolver: values, nulls (no key; a value that
    converts to None) and the error of a value of the wrong type. When primed, the
    executor read the values itself: no resolve info was built for them."""
    stock = strawberry.Schema(query=PostQuery)
    fast = strawberry.Schema(query=PostQuery, execution_context_class=_Counting)
    assert direct_plain_fields(fast) > 0
    answers = []
    for schema in (stock, fast):
        loaders = _Loaders()
        if primed:
            keys = [1, 2, 3, 4, 5]
            await loaders.people.load_many(keys)
            await loaders.badges.load_many(keys)
        _Counting.infos = 0
        result = await schema.execute(query, context_value=_Context(loaders))
        errors = [(e.message, e.path) for e in result.errors or []]
        answers.append((result.data, errors, loaders.batches if not primed else None))
    assert answers[0] == answers[1]
    if primed:
        assert _Counting.infos == infos
