"""`ParleySchema.execute` runs the operation's steps as plain calls (app/graphql/pipeline.py).
It must answer what Strawberry's `Schema.execute` answers, two ways:

- with Strawberry's own extensions as the schema had them before (parser cache, token
  limit, added validation rules, introspection switch, Protection, error formatter);
- with the same schema's extensions under Strawberry's runner (the path subscriptions take).

Same data, same formatted errors, same exceptions, the same unexpected errors logged once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from graphql import NoSchemaIntrospectionCustomRule
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from app.config import ApiSettings, Settings
from app.graphql.complexity import document_limits_rule
from app.graphql.errors import ErrorFormatter, format_error
from app.graphql.executor import ParleyExecutionContext
from app.graphql.protection import GuardState, Protection
from app.graphql.resolvers import direct_plain_fields
from app.graphql.scalars import SCALARS
from app.graphql.schema import Mutation, ParleySchema, Query, Subscription, build_schema


def _stock(settings: Settings) -> strawberry.Schema:
    """The schema as build_schema made it before the pipeline: Strawberry's extensions."""
    api = settings.api
    hide = not settings.introspection_enabled
    rules: list[Any] = [document_limits_rule(api.max_query_depth, api.max_aliases)]
    if hide:
        rules.append(NoSchemaIntrospectionCustomRule)
    schema = ParleySchema(  # without a pipeline: Strawberry's own execute
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            lambda: ParserCache(maxsize=512),
            lambda: AddValidationRules(rules),
            lambda: MaxTokensLimiter(max_token_count=api.max_tokens),
            lambda: Protection(api),
            lambda: ErrorFormatter(hide_suggestions=hide),
        ],
        execution_context_class=ParleyExecutionContext,
        config=strawberry.schema.config.StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
    )
    direct_plain_fields(schema)
    return schema


SETTINGS = {
    "introspection on": Settings(env="test"),
    "introspection off": Settings(env="test", api=ApiSettings(introspection=False)),
}
SCHEMAS = {name: (build_schema(s), _stock(s)) for name, s in SETTINGS.items()}


@dataclass
class Guarded:
    """A context with only what Protection reads before it refuses a costly operation."""

    guard: GuardState


DEEP = "{ viewer { user { id } " + "".join("workspaces { id " for _ in range(12)) + "} " * 13 + "}"
COSTLY = (
    "{ documents(first: 100) { edges { node { chunks(first: 100) { edges { node { id } } } } } }"
    " d2: documents(first: 100) { edges { node { chunks(first: 100) { edges { node { id } } } } } }"
    " }"
)
CASES: list[tuple[str, dict[str, Any]]] = [
    ("{ __typename }", {}),
    ("query Named { __typename t2: __typename }", {}),
    ("{ viewer {", {}),  # syntax error
    ("{ viewer { nope } }", {}),  # validation error (with a suggestion or without)
    ("{ viewer { user { emial } } }", {}),
    ("{ " + " ".join(f"a{n}: __typename" for n in range(700)) + " }", {}),  # token limit
    (DEEP, {}),  # depth limit
    ("{ " + " ".join(f"a{n}: __typename" for n in range(40)) + " }", {}),  # alias limit
    ("{ __schema { queryType { name } } }", {}),  # introspection
    ("{ viewer { user { id } } }", {}),  # a resolver without its context: an unexpected error
    ("query ($n: Int!) { documents(first: $n) { edges { cursor } } }", {}),  # missing variable
    ("query ($n: Int!) { documents(first: $n) { edges { cursor } } }", {"variables": {"n": "x"}}),
    ("query A { __typename } query B { __typename }", {"operation_name": "B"}),
    ("mutation { logOut }", {"allowed": {OperationType.QUERY}}),
    ("query A { __typename } query B { __typename }", {}),  # which one?
    ("query A { __typename }", {"operation_name": "C"}),
    ('subscription { answer(messageId: "x") { __typename } }', {}),
    ("", {}),
    (COSTLY, {"context": Guarded(GuardState())}),  # refused by Protection before executing
]


async def _outcome(run: Any, query: str, options: dict[str, Any]) -> tuple[Any, ...]:
    try:
        result = await run(
            query,
            variable_values=options.get("variables"),
            context_value=options.get("context"),
            operation_name=options.get("operation_name"),
            allowed_operation_types=options.get("allowed"),
        )
    except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError) as exc:
        return ("raised", type(exc).__name__, str(exc))
    errors = [format_error(e, False).formatted for e in result.errors or []]
    return ("result", type(result).__name__, result.data, errors, result.extensions)


@pytest.mark.parametrize("settings_name", list(SETTINGS))
@pytest.mark.parametrize(("query", "options"), CASES, ids=[str(i) for i in range(len(CASES))])
async def test_the_pipeline_answers_what_strawberry_answers(
    settings_name: str, query: str, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    schema, stock = SCHEMAS[settings_name]
    assert isinstance(schema, ParleySchema) and schema.pipeline is not None
    outcomes, logged = [], []
    runners = {
        "pipeline": schema.execute,
        "runner": lambda *a, **k: strawberry.Schema.execute(schema, *a, **k),
        "stock": stock.execute,
    }
    for run in runners.values():
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="parley.graphql"):
            outcomes.append(await _outcome(run, query, options))
        logged.append(len([r for r in caplog.records if r.levelno >= logging.ERROR]))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert logged[0] == logged[1] == logged[2]


async def test_the_cases_cover_every_way_out() -> None:
    """The cases above reach data, every kind of error and every exception (else the
    comparison could agree on too little)."""
    schema, _ = SCHEMAS["introspection off"]
    outcomes = [await _outcome(schema.execute, q, o) for q, o in CASES]
    kinds = {o[1] for o in outcomes}
    assert {"PreExecutionError", "ExecutionResult"} <= kinds
    assert {
        "MissingQueryError",
        "CannotGetOperationTypeError",
        "InvalidOperationTypeError",
    } <= kinds
    messages = " ".join(str(o) for o in outcomes)
    for expected in ("Syntax Error", "Cannot query field", "tokens", "depth", "aliases",
                     "introspection", "maximum is", "$n"):  # fmt: skip
        assert expected in messages, expected
    assert any(o[0] == "result" and o[2] == {"__typename": "Query"} for o in outcomes)
