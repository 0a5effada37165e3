"""The executor's short path for plain leaves answers exactly what graphql-core's path does:
same data, same key order, same errors at the same paths."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pytest
import strawberry

from app.graphql.executor import ParleyExecutionContext
from app.graphql.resolvers import direct_plain_fields, leaf_of


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Item:
    name: str
    note: str | None
    colour: Colour
    when: dt.datetime
    count: int
    tags: list[str]

    @strawberry.field
    async def shout(self) -> str:
        return self.name.upper()


class Broken:
    """Looks like an Item, but its values break the type's contract."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


WHEN = dt.datetime(2026, 12, 4, 16, 0, 0, 123456, tzinfo=dt.UTC)


def _item(label: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "name": label,
        "note": None,
        "colour": Colour.RED,
        "when": WHEN,
        "count": 3,
        "tags": ["a", "b"],
    }
    values.update(overrides)
    return Item(**values) if not overrides else Broken(**values)


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [_item("one"), Item(**{**vars(_item("two", note="n")), "colour": Colour.BLUE})]

    @strawberry.field
    def missing_name(self) -> Item | None:
        return _item("x", name=None)

    @strawberry.field
    def wrong_count(self) -> Item | None:
        return _item("x", count="many")

    @strawberry.field
    def wrong_colour(self) -> list[Item | None]:
        return [_item("ok"), _item("x", colour="green")]


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    stock = strawberry.Schema(query=Query)
    fast = strawberry.Schema(query=Query, execution_context_class=ParleyExecutionContext)
    for schema in (stock, fast):
        direct_plain_fields(schema)
    return stock, fast


QUERIES = [
    "{ items { name note colour when count tags shout } }",
    "{ items { b: count a: name __typename ...F } } fragment F on Item { colour n2: name }",
    "query($skip: Boolean = true) { items { name @skip(if: $skip) note @include(if: true) } }",
    "{ missingName { count name } }",
    "{ wrongCount { name count } }",
    "{ wrongColour { name colour } }",
    "{ items { name } missingName { name } wrongCount { count } }",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_fast_leaves_answer_like_graphql_core(query: str) -> None:
    stock, fast = _schemas()
    expected = await stock.execute(query)
    got = await fast.execute(query)
    assert got.data == expected.data
    assert list(_keys(got.data)) == list(_keys(expected.data))  # order too
    assert [(e.message, e.path) for e in got.errors or []] == [
        (e.message, e.path) for e in expected.errors or []
    ]


def test_only_scalar_and_enum_fields_are_leaves() -> None:
    _, fast = _schemas()
    fields = fast._schema.type_map["Item"].fields  # type: ignore[union-attr]
    leaves = {name for name, field in fields.items() if leaf_of(field.resolve) is not None}
    # tags is a list and shout has a resolver: both take graphql-core's path.
    assert leaves == {"name", "note", "colour", "when", "count"}


async def test_errors_are_still_reported_for_broken_leaves() -> None:
    _, fast = _schemas()
    result = await fast.execute("{ missingName { name } wrongCount { count } }")
    assert result.data == {"missingName": None, "wrongCount": None}
    assert sorted(tuple(e.path or ()) for e in result.errors or []) == [
        ("missingName", "name"),
        ("wrongCount", "count"),
    ]


def _keys(value: Any) -> Any:
    """Every key of a nested result, in order."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)
