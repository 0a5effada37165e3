"""Compiled selections (app/graphql/compiled.py): a selection of plain fields answers through
one compiled function, exactly as graphql-core's path answers it (data, key order, errors at
their paths), falls back to the ordinary path for anything unexpected, and is compiled once
for every request that makes it."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry

from app.graphql import compiled
from app.graphql.executor import ParleyExecutionContext
from app.graphql.resolvers import Leaf, direct_plain_fields
from tests.app.test_executor import Query, _keys, _schemas
from tests.app.test_loaders import PostQuery


class _Recording(ParleyExecutionContext):
    """Records which plain children the ordinary loop ran (none below a list whose items a
    compiled function answered), the compiled functions worked out, with their plans, and
    the plans whose function a request dropped after a fallback."""

    ordinary: list[str] = []
    functions: list[Any] = []
    plans: list[Any] = []
    dropped: list[Any] = []

    def _drop(self, plan: Any) -> None:
        type(self).dropped.append(plan)
        super()._drop(plan)

    def _execute_child(self, step: Any, child: Any, *rest: Any) -> Any:
        type(self).ordinary.append(step[0])
        return super()._execute_child(step, child, *rest)

    def _compile(self, parent_type: Any, plan: Any) -> Any:
        tried = plan.tried
        function = super()._compile(parent_type, plan)
        if not tried:
            type(self).functions.append(function)
            type(self).plans.append(plan)
        return function


def _fell_back() -> bool:
    """Whether a compiled function gave up on some object during the last request."""
    return bool(_Recording.dropped)


def _recording_schema() -> strawberry.Schema:
    schema = strawberry.Schema(query=Query, execution_context_class=_Recording)
    direct_plain_fields(schema)
    _Recording.ordinary = []
    _Recording.functions = []
    _Recording.plans = []
    _Recording.dropped = []
    return schema


# Lists whose items' selections are made only of plain fields: compiled, and nothing below
# them takes the ordinary loop.
PLAIN = [
    "{ items { name note colour when count } }",
    "{ items { __typename b: count a: name ...F } } fragment F on Item { colour n2: name }",
    "query($skip: Boolean = true) { items { name @skip(if: $skip) note @include(if: true) } }",
    "{ room { shelves { name __typename tag { label weight } main { label } } } }",
    "{ room { shelves { n: name tags { weight label __typename } maybeTags { label } } } }",
    "{ room { shelves { ... on Shelf { main { ... on Named { label } } } } } }",
]

# Plain selections over values the compiled functions do not expect: they give up and the
# ordinary path answers (an enum's value instead of its member, coerced) or reports the
# errors (nulls in non-null fields, values that do not coerce, objects of the wrong type
# or cast away, something not a list, a null item in a non-null list).
BROKEN = [
    "{ wrongColour { name colour } }",
    "{ rawColours { colour name } }",
    "{ brokenRooms { shelf { name main { label weight } tags { label weight } } } }",
    "{ brokenRooms { shelves { name tags { weight } } } }",
]


async def _both(query: str) -> tuple[Any, Any]:
    stock, _ = _schemas()
    return await stock.execute(query), await _recording_schema().execute(query)


def _same(got: Any, expected: Any) -> None:
    assert got.data == expected.data
    assert list(_keys(got.data)) == list(_keys(expected.data))  # order too
    assert [(e.message, e.path) for e in got.errors or []] == [
        (e.message, e.path) for e in expected.errors or []
    ]


@pytest.mark.parametrize("query", PLAIN)
async def test_plain_selections_are_answered_by_compiled_functions(query: str) -> None:
    expected, got = await _both(query)
    _same(got, expected)
    assert got.errors is None
    # Only above the list (room's fields) may the ordinary loop run a plain child.
    assert set(_Recording.ordinary) <= {"shelves"}
    assert _Recording.functions and all(function is not None for function in _Recording.functions)


async def test_a_single_object_keeps_the_ordinary_loop() -> None:
    """Looking a compiled function up costs about what it saves on one object: selections
    reached only through single objects are not compiled."""
    query = "{ room { shelf { name tag { label } main { label } } } }"
    expected, got = await _both(query)
    _same(got, expected)
    assert _Recording.functions == []
    assert _Recording.ordinary == ["shelf", "tag", "main"]


@pytest.mark.parametrize("query", BROKEN)
async def test_broken_values_fall_back_to_the_ordinary_path(query: str) -> None:
    expected, got = await _both(query)
    _same(got, expected)
    assert _fell_back()
    assert got.errors or "rawColours" in query  # raw colours are coerced, not errors


async def test_good_objects_beside_a_broken_one_answer_alike() -> None:
    """A room whose shelf breaks among rooms that do not: the others' data is what
    graphql-core gives, and only the broken shelf is nulled."""
    query = "{ brokenRooms { shelf { name main { label } } } }"
    expected, got = await _both(query)
    _same(got, expected)
    assert _fell_back()
    assert got.data is not None
    rooms = got.data["brokenRooms"]
    assert rooms[0] == {"shelf": None}  # its main is null in a non-null field: shelf nulled
    assert rooms[1] == {"shelf": {"name": "bad-item", "main": {"label": "bad-item-main"}}}


async def test_a_selection_is_compiled_once_for_every_request() -> None:
    query = "{ room { shelves { name tags { label weight } } } }"
    first = _recording_schema()
    await first.execute(query)
    before = [function for function in _Recording.functions if function is not None]
    _Recording.functions = []
    await first.execute(query)
    again = [function for function in _Recording.functions if function is not None]
    assert before and len(before) == len(again)
    assert all(a is b for a, b in zip(before, again, strict=True))


async def test_a_selection_with_a_resolver_is_not_compiled() -> None:
    """`shout` is an async resolver: Item's selection keeps the ordinary loop, which answers
    like graphql-core."""
    query = "{ items { name shout } }"
    expected, got = await _both(query)
    _same(got, expected)
    assert _Recording.functions and all(function is None for function in _Recording.functions)


def test_equal_steps_share_one_function() -> None:
    coerce = str
    first = compiled.compile_selection((compiled.leaf("a", Leaf("name", coerce, False)),))
    second = compiled.compile_selection((compiled.leaf("a", Leaf("name", coerce, False)),))
    other = compiled.compile_selection((compiled.leaf("b", Leaf("name", coerce, False)),))
    assert first is second and first is not other

    class Source:
        name = 7

    assert first(Source(), None) == {"a": "7"}
    assert other(Source(), None) == {"b": "7"}


def test_response_names_are_data_and_attribute_names_must_be_identifiers() -> None:
    """What a query chooses (its aliases) never becomes source text; the schema's attribute
    names do, and must be plain identifiers."""
    odd_alias = 'x"]; import os; #'
    function = compiled.compile_selection((compiled.leaf(odd_alias, Leaf("name", str, False)),))

    class Source:
        name = "n"

    assert function(Source(), None) == {odd_alias: "n"}
    for attribute in ("not an attribute", "class", "a.b"):
        with pytest.raises(ValueError, match="not an attribute name"):
            compiled.compile_selection((compiled.leaf("a", Leaf(attribute, str, False)),))


def test_the_cache_stays_bounded_and_answers_after_it_is_emptied() -> None:
    steps = [(compiled.leaf(f"f{n}", Leaf("name", str, False)),) for n in range(600)]
    functions = [compiled.compile_selection(step) for step in steps]

    class Source:
        name = "n"

    assert functions[-1](Source(), None) == {"f599": "n"}
    assert compiled.compile_selection(steps[-1]) is functions[-1]  # still held
    assert functions[0](Source(), None) == {"f0": "n"}  # an evicted function still works


def test_a_compiled_function_shows_its_source() -> None:
    function = compiled.compile_selection(
        (compiled.leaf("title", Leaf("title", str, True)), compiled.typename("t", "Item"))
    )
    assert function.__doc__ is not None
    assert "source.title" in function.__doc__ and "return result" in function.__doc__


async def test_loaded_fields_without_loaders_fall_back() -> None:
    """A context without loaders: the compiled function gives up at the loaded field, and
    the resolver reports what it always reported."""
    stock, fast = _schemas(PostQuery)
    query = "{ posts { title author { name } } }"
    expected = await stock.execute(query, context_value=object())
    got = await fast.execute(query, context_value=object())
    _same(got, expected)
    assert got.errors  # the resolver's own: the context has no loaders


@strawberry.type
class Reading:
    label: str
    key: strawberry.ID
    value: int


class _Text(str):
    """A str subclass: String's coercion returns it as a plain str."""

    def __str__(self) -> str:
        return "text:" + super().__str__()


@strawberry.type
class ReadingsQuery:
    @strawberry.field
    def readings(self) -> list[Reading]:
        return [Reading(label="a", key=strawberry.ID("k1"), value=-(2**31)), _reading()]

    @strawberry.field
    def odd_readings(self) -> list[Reading | None]:
        # Values not of exactly the class passed through: coerced as graphql-core does, or
        # reported where it reports them.
        return [
            _reading(label=_Text("sub")),
            _reading(value=True),
            _reading(value=3.0),
            _reading(label=5, key=7),  # type: ignore[arg-type]
            _reading(value=2**31),
            _reading(value=-(2**31) - 1),
            _reading(),
        ]


def _reading(**values: Any) -> Reading:
    fields: dict[str, Any] = {"label": "b", "key": strawberry.ID("k2"), "value": 2**31 - 1}
    fields.update(values)
    return Reading(**fields)


@pytest.mark.parametrize(
    "query", ["{ readings { label key value } }", "{ oddReadings { value key label } }"]
)
async def test_strings_ids_and_ints_pass_through_as_graphql_core_coerces_them(query: str) -> None:
    stock, fast = _schemas(ReadingsQuery, _Recording)
    _Recording.functions = []
    _Recording.dropped = []
    expected = await stock.execute(query)
    got = await fast.execute(query)
    _same(got, expected)
    # The compiled function reads each of the three through its class check.
    [function] = _Recording.functions
    assert function.__doc__.count(".__class__ is ") == 3
    assert _fell_back() == query.startswith("{ odd")  # only the odd values are coerced
