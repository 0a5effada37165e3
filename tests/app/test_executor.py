"""The executor's short paths (plain leaves, plain objects and lists of objects) answer
exactly what graphql-core's path does: same data, same key order, same errors at the same
paths."""

from __future__ import annotations

import datetime as dt
import enum
import gc
import weakref
from typing import Any, Generic, TypeVar

import graphql
import pytest
import strawberry

from app.graphql.executor import ParleyExecutionContext
from app.graphql.resolvers import direct_plain_fields, marks_of


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

    @strawberry.field
    def labelled(self, info: strawberry.Info) -> str:
        return f"{info.field_name}:{info.path.key}:{self.name}"

    @strawberry.field
    def rooted(root: Item) -> int:
        return len(root.name)

    @strawberry.field
    def refuses(self) -> str | None:
        raise ValueError(f"no {self.name}")

    @strawberry.field(graphql_type=str)
    def later(self) -> Any:
        async def value() -> str:
            return self.name[::-1]

        return value()


@strawberry.interface
class Named:
    label: str


@strawberry.type
class Tag(Named):
    """Implements an interface, so graphql-core checks its objects' type."""

    weight: int


@strawberry.type
class Box:
    """No interface: graphql-core checks no type for its objects."""

    label: str
    tags: list[Tag]


@strawberry.type
class Shelf:
    name: str
    tag: Tag | None
    main: Tag
    tags: list[Tag]
    maybe_tags: list[Tag | None] | None

    @strawberry.field
    async def later(self) -> Tag:
        return self.main

    @strawberry.field
    async def fails(self) -> str | None:
        raise ValueError("shelf unreadable")

    @strawberry.field
    async def fails_hard(self) -> str:
        raise ValueError("shelf gone")

    @strawberry.field
    def tag_count(self, at_least: int = 0) -> int:
        return max(at_least, len(self.tags))

    # Resolvers returning objects: called directly.
    @strawberry.field
    def picked(self) -> Tag | None:
        return self.main

    @strawberry.field
    def nothing(self) -> Tag | None:
        return None

    @strawberry.field
    def must(self) -> Tag:
        return None  # type: ignore[return-value] # a broken contract graphql-core reports

    @strawberry.field
    def wrong(self) -> Tag | None:
        return _item("x")  # type: ignore[no-any-return]

    @strawberry.field
    def raising(self) -> Tag | None:
        raise ValueError(f"no pick on {self.name}")

    @strawberry.field(graphql_type=Tag | None)
    def awaited(self) -> Any:
        async def value() -> Tag:
            return self.main

        return value()

    @strawberry.field(graphql_type=Box | None)
    def boxed(self) -> Any:
        async def value() -> Box:
            return Box(label=self.name + "-boxed", tags=[self.main])

        return value()

    @strawberry.field
    def picks(self) -> list[Tag | None]:
        return [self.main, None]

    @strawberry.field
    def strict_picks(self) -> list[Tag]:
        return [self.main, None]  # type: ignore[list-item] # a null item in a non-null list

    @strawberry.field
    def located(self, info: strawberry.Info) -> Tag:
        return Tag(label=f"{info.field_name}@{info.path.prev.key}", weight=len(self.name))


@strawberry.type
class Room:
    shelf: Shelf | None
    shelves: list[Shelf]


def _tag(label: str, weight: Any = 1) -> Any:
    return Tag(label=label, weight=weight)


def _shelf(name: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "name": name,
        "tag": None,
        "main": _tag(name + "-main"),
        "tags": [_tag(name + "-a"), _tag(name + "-b", 2)],
        "maybe_tags": [None, _tag(name + "-c")],
    }
    values.update(overrides)
    return Shelf(**values)


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

    @strawberry.field
    def raw_colours(self) -> list[Item]:
        # The enum's value instead of its member: graphql-core's path coerces it.
        return [_item("raw", colour="blue"), Item(**{**vars(_item("m")), "colour": Colour.BLUE})]

    @strawberry.field
    def room(self) -> Room:
        return Room(shelf=_shelf("s", tag=_tag("t")), shelves=[_shelf("one"), _shelf("two")])

    @strawberry.field
    def broken_rooms(self) -> list[Room | None]:
        return [
            Room(shelf=_shelf("no-main", main=None), shelves=[]),  # null in a non-null object
            Room(shelf=_shelf("bad-item", tags=[_tag("a"), None]), shelves=[]),
            Room(shelf=_shelf("not-a-list", tags=_tag("a")), shelves=[]),  # type: ignore[arg-type]
            Room(shelf=_shelf("wrong-type", main=_item("x")), shelves=[]),
            Room(shelf=_shelf("bad-leaf", main=_tag("m", weight="heavy")), shelves=[]),
            # A Tag cast to another type fails Tag's type check; cast to Tag it passes.
            Room(shelf=_shelf("cast-away", main=strawberry.cast(Shelf, _tag("c"))), shelves=[]),
            Room(shelf=_shelf("cast-home", main=strawberry.cast(Tag, _tag("h"))), shelves=[]),
            Room(shelf=None, shelves=[_shelf("ok"), _shelf("bad", tags=[_tag("a", "x")])]),
        ]


def _schemas(
    query: type = Query, executor: type[ParleyExecutionContext] = ParleyExecutionContext
) -> tuple[strawberry.Schema, strawberry.Schema]:
    """`query`'s schema as Strawberry makes it, and with Parley's resolvers and `executor`."""
    stock = strawberry.Schema(query=query)
    fast = strawberry.Schema(query=query, execution_context_class=executor)
    direct_plain_fields(fast)
    return stock, fast


QUERIES = [
    "{ items { name note colour when count tags shout } }",
    "{ items { b: count a: name __typename ...F } } fragment F on Item { colour n2: name }",
    "query($skip: Boolean = true) { items { name @skip(if: $skip) note @include(if: true) } }",
    "{ missingName { count name } }",
    "{ wrongCount { name count } }",
    "{ wrongColour { name colour } }",
    "{ rawColours { colour name } }",
    "{ items { name } missingName { name } wrongCount { count } }",
    "{ items { labelled rooted refuses later l2: labelled } }",
    "{ room { shelf { name tag { label weight } main { label } tags { weight label } } } }",
    "{ room { shelves { name maybeTags { label } later { label } tags { __typename } } } }",
    "{ room { shelf { fails name } shelves { name fails } } }",
    "{ room { shelves { name failsHard } shelf { name } } }",
    "{ room { shelf { ... on Shelf { main { ... on Named { label } } } } } }",
    "{ brokenRooms { shelf { name main { label weight } tags { label weight } } } }",
    "{ brokenRooms { shelves { name tags { weight } } } }",
    "{ room { shelves { picked { label weight } nothing { label } located { label weight } } } }",
    "{ room { shelves { name must { label } } shelf { name } } }",
    "{ room { shelf { wrong { label } raising { label } awaited { label } name } } }",
    "{ room { shelves { boxed { label tags { label weight } } } } }",
    "{ room { shelves { picks { label } strictPicks { label } name } } }",
    "{ brokenRooms { shelf { name picked { label weight } picks { weight } } } }",
    "{ room { shelf { picked { ... on Named { label } __typename } } } }",
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
    leaves = {name for name, field in fields.items() if marks_of(field.resolve).leaf is not None}
    # tags is a list and shout has a resolver: both take graphql-core's path.
    assert leaves == {"name", "note", "colour", "when", "count"}


def test_plain_objects_and_lists_of_them_are_children() -> None:
    _, fast = _schemas()
    types = fast._schema.type_map
    fields = {
        f"{type_name}.{name}"
        for type_name in ("Room", "Shelf")
        for name, field in types[type_name].fields.items()  # type: ignore[union-attr]
        if marks_of(field.resolve).child is not None
    }
    # `later` has a resolver; leaves and lists of scalars are not children.
    assert fields == {
        "Room.shelf",
        "Room.shelves",
        "Shelf.tag",
        "Shelf.main",
        "Shelf.tags",
        "Shelf.maybeTags",
    }


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


async def test_plain_objects_skip_graphql_cores_field_execution() -> None:
    """Only fields with resolvers go through `execute_field`; the rest is read inline."""
    executed: list[str] = []

    class Counting(ParleyExecutionContext):
        def execute_field(self, parent_type: Any, source: Any, details: Any, *rest: Any) -> Any:
            executed.append(f"{parent_type.name}.{details[0].node.name.value}")
            return super().execute_field(parent_type, source, details, *rest)

    schema = strawberry.Schema(query=Query, execution_context_class=Counting)
    direct_plain_fields(schema)
    result = await schema.execute(
        "{ room { shelves { name tags { weight } later { label } picked { label } tagCount } } }"
    )
    assert result.errors is None
    assert result.data is not None
    assert len(result.data["room"]["shelves"]) == 2
    assert result.data["room"]["shelves"][1]["picked"] == {"label": "two-main"}
    assert result.data["room"]["shelves"][1]["later"] == {"label": "two-main"}
    # `room`, `picked` and `later` (async) are resolvers returning objects: called and
    # completed inline. `tagCount` returns a scalar: graphql-core completes it.
    assert executed == ["Shelf.tagCount", "Shelf.tagCount"]


async def test_each_child_selection_is_collected_once_per_request() -> None:
    """The objects of a list share their field's selection and plan: worked out for the
    first object, then reached from the field's step (results as graphql-core's)."""
    collected: list[str] = []

    class Counting(ParleyExecutionContext):
        def collect_subfields(self, return_type: Any, details: Any) -> Any:
            collected.append(f"{return_type.name}:{details[0].node.name.value}")
            return super().collect_subfields(return_type, details)

    query = "{ room { shelves { name tags { weight } picked { label } maybeTags { label } } } }"
    schema = strawberry.Schema(query=Query, execution_context_class=Counting)
    direct_plain_fields(schema)
    stock, _ = _schemas()
    result = await schema.execute(query)
    expected = await stock.execute(query)
    assert result.errors is None
    assert result.data == expected.data
    assert result.data is not None
    assert len(result.data["room"]["shelves"]) == 2  # so a per-object collection would show
    assert sorted(collected) == [
        "Room:room",
        "Shelf:shelves",
        "Tag:maybeTags",
        "Tag:picked",
        "Tag:tags",
    ]


def test_resolvers_returning_objects_are_marked_direct() -> None:
    _, fast = _schemas()
    fields = fast._schema.type_map["Shelf"].fields  # type: ignore[union-attr]
    direct = {name for name, field in fields.items() if marks_of(field.resolve).direct is not None}
    # `later` is async; `awaited` and `boxed` return an object type though their Python
    # functions are synchronous: all three are marked, their awaitables awaited by the
    # executor. `fails` and `tagCount` return scalars.
    assert direct == {
        "later",
        "picked",
        "nothing",
        "must",
        "wrong",
        "raising",
        "awaited",
        "boxed",
        "picks",
        "strictPicks",
        "located",
    }


async def test_an_executor_goes_with_its_request_and_its_helpers_still_work() -> None:
    """graphql-core keeps resolve-info helpers bound to the executor that holds them (a
    reference cycle per request); Parley's reach the executor weakly, so it is freed as soon
    as the execution ends, with the collector off, and a resolver can still gather."""
    executors: list[weakref.ref[ParleyExecutionContext]] = []

    class Recording(ParleyExecutionContext):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            executors.append(weakref.ref(self))

    async def number(n: int) -> int:
        return n

    def pair(info: graphql.GraphQLResolveInfo) -> Any:
        return info.async_helpers.gather([number(1), number(2)])

    schema = graphql.build_schema("type Query { pair: [Int] }")
    gc.disable()
    try:
        outcome = graphql.execute(
            schema, graphql.parse("{ pair }"), root_value={"pair": pair}, executor_class=Recording
        )
        assert not isinstance(outcome, graphql.ExecutionResult)  # the resolver awaited
        result = await outcome
        assert result.errors is None
        assert result.data == {"pair": [1, 2]}
        assert len(executors) == 1
        assert executors[0]() is None
    finally:
        gc.enable()


T = TypeVar("T")


@strawberry.type
class Wrapped(Generic[T]):
    label: str
    item: T


@strawberry.type
class WrappedQuery:
    @strawberry.field
    def wrapped(self) -> list[Wrapped[Tag]]:
        return [Wrapped(label=f"w{n}", item=_tag(f"t{n}", n)) for n in range(3)]

    @strawberry.field
    def impostors(self) -> list[Wrapped[Tag]]:
        # Not Wrapped at all: graphql-core checks no type for it, and neither does Parley.
        return [Box(label="box", tags=[]), Wrapped(label="w", item=_tag("t"))]  # type: ignore[list-item]


async def test_a_generic_types_objects_pass_the_class_check() -> None:
    """The objects of a specialised generic type (`Wrapped[Tag]`, as `Edge[Document]`) are
    instances of the generic class: the mark's origin is that class, so they pass the
    executor's class check without graphql-core's awaitable test; results as graphql-core's."""
    stock, fast = _schemas(WrappedQuery)
    child = marks_of(fast._schema.query_type.fields["wrapped"].resolve).direct  # type: ignore[union-attr]
    assert child is not None
    assert child.origin is Wrapped
    for query in ("{ wrapped { label item { label weight } } }", "{ impostors { label } }"):
        expected = await stock.execute(query)
        got = await fast.execute(query)
        assert got.data == expected.data
        assert got.errors == expected.errors
        assert got.data is not None
