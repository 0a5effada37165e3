"""Plans shared by the requests that run the same parsed operation (app.graphql.shared_plans):
worked out once, answering exactly as graphql-core does on every request; never shared when
a directive takes a variable; and a compiled function that gives up in one request still
answers the next."""

from __future__ import annotations

from typing import Any

import graphql
import graphql.execution.executor as executor_module
import pytest
import strawberry

from app.graphql import shared_plans
from app.graphql.executor import ParleyExecutionContext
from app.graphql.resolvers import direct_plain_fields


@strawberry.type
class Row:
    name: str
    size: int


@strawberry.type
class Box:
    label: str
    rows: list[Row]


@strawberry.type
class Query:
    @strawberry.field
    def box(self, info: strawberry.Info) -> Box:
        return Box(label="box", rows=info.context["rows"])

    @strawberry.field
    async def later(self, info: strawberry.Info) -> Box:
        """Completed by graphql-core itself (an awaitable), which collects its selection."""
        return Box(label="later", rows=info.context["rows"][:2])


class _Counting(ParleyExecutionContext):
    """Counts the plans made, the items run by their plan and the compiled functions
    dropped (and, with the `collections` fixture, the selections graphql-core collects)."""

    counts: dict[str, int] = {}

    def _count(self, what: str) -> None:
        type(self).counts[what] = type(self).counts.get(what, 0) + 1

    def _new_plan(self, parent_type: Any, grouped_field_set: Any) -> Any:
        self._count("planned")
        return super()._new_plan(parent_type, grouped_field_set)

    def _run_plan(self, parent_type: Any, *rest: Any, **kw: Any) -> Any:
        self._count(f"ran {parent_type.name}")
        return super()._run_plan(parent_type, *rest, **kw)

    def _drop(self, plan: Any) -> None:
        self._count("dropped")
        super()._drop(plan)


def _rows(*sizes: Any) -> list[Row]:
    return [Row(name=f"r{i}", size=size) for i, size in enumerate(sizes)]


@pytest.fixture
def collections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count graphql-core's collections of a selection, whoever asks for them."""
    collect = executor_module.collect_subfields

    def counted(*args: Any, **kwargs: Any) -> Any:
        _Counting.counts["collected"] = _Counting.counts.get("collected", 0) + 1
        return collect(*args, **kwargs)

    monkeypatch.setattr(executor_module, "collect_subfields", counted)


@pytest.fixture
def schemas() -> tuple[graphql.GraphQLSchema, graphql.GraphQLSchema]:
    """Strawberry as it comes, and with Parley's resolvers (run with _Counting)."""
    fast = strawberry.Schema(query=Query)
    direct_plain_fields(fast)
    return strawberry.Schema(query=Query)._schema, fast._schema


async def _run(
    schema: graphql.GraphQLSchema,
    document: graphql.DocumentNode,
    rows: list[Row],
    variables: dict[str, Any] | None = None,
    executor: type[Any] | None = None,
) -> graphql.ExecutionResult:
    _Counting.counts = {}
    outcome = graphql.execute(
        schema,
        document,
        context_value={"rows": rows},
        variable_values=variables,
        executor_class=executor or graphql.Executor,
    )
    return await outcome if not isinstance(outcome, graphql.ExecutionResult) else outcome


def _same(got: graphql.ExecutionResult, expected: graphql.ExecutionResult) -> None:
    assert got.data == expected.data
    assert [e.formatted for e in got.errors or ()] == [e.formatted for e in expected.errors or ()]


@pytest.mark.usefixtures("collections")
async def test_the_second_request_collects_and_plans_nothing(schemas: Any) -> None:
    stock, fast = schemas
    document = graphql.parse("{ box { label rows { name size } } later { label rows { name } } }")
    rows = _rows(1, 2, 3)
    first = await _run(fast, document, rows, executor=_Counting)
    assert _Counting.counts["planned"] >= 2  # the root's, Box's and Row's plans
    assert _Counting.counts["collected"] >= 2  # Box's and Row's selections
    again = await _run(fast, document, rows, executor=_Counting)
    assert "collected" not in _Counting.counts
    assert "planned" not in _Counting.counts
    assert "ran Row" not in _Counting.counts  # its compiled function answered every row
    expected = await _run(stock, document, rows)
    _same(first, expected)
    _same(again, expected)
    assert again.data == {
        "box": {"label": "box", "rows": [
            {"name": "r0", "size": 1}, {"name": "r1", "size": 2}, {"name": "r2", "size": 3},
        ]},
        "later": {"label": "later", "rows": [{"name": "r0"}, {"name": "r1"}]},
    }  # fmt: skip


async def test_a_fallback_in_one_request_leaves_the_function_for_the_next(schemas: Any) -> None:
    stock, fast = schemas
    document = graphql.parse("{ box { rows { name size } } }")
    await _run(fast, document, _rows(1, 2), executor=_Counting)
    broken = _rows(1, "not a number", 3)
    got = await _run(fast, document, broken, executor=_Counting)
    assert _Counting.counts["dropped"] == 1
    _same(got, await _run(stock, document, broken))
    assert got.errors  # the size that does not coerce, located as graphql-core locates it
    good = _rows(4, 5)
    again = await _run(fast, document, good, executor=_Counting)
    assert "dropped" not in _Counting.counts
    assert "ran Row" not in _Counting.counts
    _same(again, await _run(stock, document, good))


@pytest.mark.parametrize(
    "query",
    [
        "query($x: Boolean!) { box { rows { name size @include(if: $x) } } }",
        "query($x: Boolean!) { box { ... on Box @skip(if: $x) { label } rows { name } } }",
        "query($x: Boolean!) { box { rows { ...R } } } fragment R on Row { size @skip(if: $x) }",
    ],
)
async def test_selections_that_depend_on_variables_are_not_shared(schemas: Any, query: str) -> None:
    stock, fast = schemas
    document = graphql.parse(query)
    rows = _rows(1, 2)
    for x in (True, False, True, False):
        got = await _run(fast, document, rows, {"x": x}, executor=_Counting)
        assert _Counting.counts["planned"] >= 2  # every request works its plans out
        _same(got, await _run(stock, document, rows, {"x": x}))


def test_operations_remembered_are_bounded() -> None:
    schema = strawberry.Schema(query=Query)._schema
    for n in range(shared_plans.MAX_OPERATIONS + 20):
        document = graphql.parse(f"{{ box {{ label n{n}: label }} }}")
        operation = document.definitions[0]
        assert isinstance(operation, graphql.OperationDefinitionNode)
        assert shared_plans.shared_for(schema, operation, {}) is not None
    assert len(shared_plans._ENTRIES) == shared_plans.MAX_OPERATIONS
