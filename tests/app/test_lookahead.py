"""selects() and arguments(): whether an operation asks for a field below the one being
resolved, and with which arguments."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from strawberry.extensions import ParserCache

from app.graphql.lookahead import arguments, selects


@strawberry.type
class Leaf:
    name: str = "leaf"


@strawberry.type
class Middle:
    leaf: Leaf = strawberry.field(default_factory=Leaf)
    other: str = "other"

    @strawberry.field
    def page(self, first: int | None = 10, after: str | None = None) -> str:
        return f"{first} {after}"


seen: list[bool] = []
asked: list[dict[str, Any] | None] = []


@strawberry.type
class Query:
    @strawberry.field
    def top(self, info: strawberry.Info) -> Middle:
        seen.append(selects(info, "leaf", "name"))
        asked.append(arguments(info, "page"))
        return Middle()


CASES = [
    ("{ top { leaf { name } } }", True),
    ("{ top { other } }", False),
    ("{ top { leaf { __typename } } }", False),
    ("{ top { l: leaf { n: name } } }", True),  # aliases do not hide the field
    ("{ top { ... on Middle { leaf { ... on Leaf { name } } } } }", True),
    ("{ top { ...M } } fragment M on Middle { leaf { ...L } } fragment L on Leaf { name }", True),
    ("{ top { ...M } } fragment M on Middle { other }", False),
    ("{ top { leaf { name @skip(if: true) } } }", True),  # asked for, if not answered
]


@pytest.mark.parametrize(("query", "expected"), CASES)
async def test_selects_follows_fields_and_fragments(query: str, expected: bool) -> None:
    # The parser cache hands back the same document, so the second answer is the memo's.
    schema = strawberry.Schema(query=Query, extensions=[ParserCache])
    seen.clear()
    for _ in range(2):
        result = await schema.execute(query)
        assert result.errors is None
    assert seen == [expected, expected]


ARGUMENT_CASES = [
    ("{ top { other } }", {}, None),  # not asked for
    ("{ top { page } }", {}, {"first": 10, "after": None}),  # the defaults (null too)
    ("{ top { page(first: 3) } }", {}, {"first": 3, "after": None}),
    (
        "query Q($n: Int, $c: String) { top { page(first: $n, after: $c) } }",
        {"n": 5, "c": "x"},
        {"first": 5, "after": "x"},
    ),
    # A variable left out is not passed, so the argument's default applies, as it does for
    # the field itself; one declared with a default gives that.
    ("query Q($n: Int) { top { page(first: $n) } }", {}, {"first": 10, "after": None}),
    ("query Q($n: Int = 7) { top { page(first: $n) } }", {}, {"first": 7, "after": None}),
    ("query Q($n: Int) { top { page(first: $n) } }", {"n": None}, {"first": None, "after": None}),
    # The same arguments however the selection reaches the field, once or twice...
    (
        "{ top { page(first: 2) ...M } } fragment M on Middle { page(first: 2) }",
        {},
        {"first": 2, "after": None},
    ),
    ("{ top { a: page(first: 2) b: page(first: 2) } }", {}, {"first": 2, "after": None}),
    # ...but two sets of arguments (aliases) have no one answer.
    ("{ top { a: page(first: 2) b: page(first: 3) } }", {}, None),
]


@pytest.mark.parametrize(("query", "variables", "expected"), ARGUMENT_CASES)
async def test_arguments_apply_variables_and_defaults(
    query: str, variables: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    schema = strawberry.Schema(query=Query, extensions=[ParserCache])
    asked.clear()
    for _ in range(2):
        result = await schema.execute(query, variable_values=variables)
        assert result.errors is None and result.data is not None
        if expected is not None:  # what the field itself was given
            pages = [v for k, v in result.data["top"].items() if k in ("page", "a", "b")]
            assert pages and set(pages) == {f"{expected['first']} {expected['after']}"}
    assert asked == [expected, expected]
