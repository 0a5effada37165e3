"""Document cost and shape, measured before execution."""

from __future__ import annotations

import strawberry
from graphql import parse, validate

from app.config import Settings
from app.graphql.complexity import Cost, document_limits_rule, estimate
from app.graphql.schema import build_schema

SCHEMA = build_schema(Settings(env="test"))._schema


def cost_of(document: str, variables: dict | None = None, schema=SCHEMA) -> Cost:
    return estimate(schema, parse(document), None, variables, default_page=20, max_page=100)


def test_objects_cost_one_and_pages_multiply_what_is_under_them() -> None:
    assert cost_of("{ __typename }") == Cost(0, 0)
    assert cost_of("{ viewer { user { id email } } }") == Cost(2, 0)
    members = (
        "query($n: Int) { workspace { members(first: $n) { edges { node { user { id } } } } } }"
    )
    # workspace 1 + members 1 + n x (edges 1 + node 1 + user 1)
    assert cost_of(members, {"n": 10}).cost == 2 + 10 * 3
    assert cost_of(members, {"n": 1000}).cost == 2 + 100 * 3  # capped at the page maximum
    # Without `first`, the field's default (20 for viewer.workspaces) applies.
    assert cost_of("{ viewer { workspaces { edges { node { id } } } } }").cost == 2 + 20 * 2


def test_fragments_and_mutations_are_priced() -> None:
    with_fragment = "{ viewer { ...V } } fragment V on Viewer { user { id } }"
    assert cost_of(with_fragment) == cost_of("{ viewer { user { id } } }")
    inline = "{ viewer { ... on Viewer { user { id } } } }"
    assert cost_of(inline).cost == 2
    log_out = "mutation { logOut }"
    assert cost_of(log_out).cost == 10


@strawberry.type
class Answer:
    text: str


@strawberry.type
class AskQuery:
    @strawberry.field(metadata={"budget": "answers"})
    def ask(self, question: str) -> Answer:
        return Answer(text=question)

    @strawberry.field(metadata={"cost": 7})
    def pricey(self) -> int:
        return 1


def test_fields_can_declare_their_cost_and_the_answers_budget() -> None:
    schema = strawberry.Schema(query=AskQuery)._schema
    document = '{ a: ask(question: "x") { text } b: ask(question: "y") { text } pricey }'
    # Each ask is an object (1) and starts one answer; pricey costs what it declares.
    assert cost_of(document, schema=schema) == Cost(cost=9, answers=2)


def test_points_are_cost_per_point_rounded_up_and_at_least_one() -> None:
    assert Cost(0, 0).points(100) == 1
    assert Cost(152, 0).points(10) == 16
    assert Cost(100, 0).points(100) == 1
    assert Cost(101, 0).points(100) == 2


def bomb(levels: int) -> str:
    fragments = " ".join(
        f"fragment F{i} on Viewer {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"{{ viewer {{ ...F0 }} }} {fragments} fragment F{levels} on Viewer {{ user {{ id }} }}"


def test_limits_measure_each_fragment_once() -> None:
    # 2^80 paths through the fragments: walking them would never end; measuring each fragment
    # once is linear. Depth 2 and no aliases, so the rule accepts it (the cost check refuses).
    document = parse(bomb(80))
    assert validate(SCHEMA, document, [document_limits_rule(12, 30)]) == []
    assert cost_of(bomb(80)).cost == 1 + 2**80  # viewer, then user once per path


def test_depth_and_aliases_through_fragments() -> None:
    rule = document_limits_rule(max_depth=2, max_aliases=1)
    deep = parse(
        "{ viewer { ...W } } fragment W on Viewer { workspaces { edges { node { id } } } }"
    )
    assert [e.extensions["limit"] for e in validate(SCHEMA, deep, [rule])] == ["depth"]
    aliased = parse("{ viewer { ...A } } fragment A on Viewer { a: user { id } b: user { id } }")
    errors = validate(SCHEMA, aliased, [rule])
    assert [e.message for e in errors] == [
        "Operation 'anonymous' uses 2 aliases; the maximum is 1."
    ]


def test_a_parsed_document_is_priced_once_per_page_size() -> None:
    """The estimate is remembered per parsed document and per value of the page-size
    variables it read; other variables do not change it, and a cached estimate equals a
    fresh one whatever order the requests come in."""
    text = (
        "query($a: Int, $b: Int, $other: String) { workspace { "
        "members(first: $a, last: $b) { edges { node { user { id } } } } } }"
    )
    document = parse(text)

    def cached(variables: dict) -> Cost:
        return estimate(SCHEMA, document, None, variables, default_page=20, max_page=100)

    cases = [
        {"a": 10},
        {"a": 10, "other": "x"},  # not a page size: same estimate
        {"a": None, "b": 5},  # `first` unset: `last` decides
        {"a": 10, "b": 5},
        {"a": 3},
        {"a": None, "b": 7},
        {"a": [1]},  # not a number (validation refuses it): no page size, not remembered
    ]
    for variables in cases * 2:
        assert cached(variables) == cost_of(text, variables), variables
    assert cached({"a": 10}).cost == 2 + 10 * 3
    assert cached({"a": None, "b": 5}).cost == 2 + 5 * 3
