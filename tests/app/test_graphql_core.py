"""The GraphQL contract: committed SDL, descriptions, error codes and masking, limits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import strawberry
from graphql import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from app.config import Settings
from app.errors import NotFound
from app.graphql.errors import ErrorFormatter
from app.graphql.export import sdl
from app.graphql.schema import ParleySchema, build_schema
from tests.support.factories import Factory
from tests.support.graphql import GraphQL


def test_committed_sdl_matches_the_code(repo_root: Path) -> None:
    committed = (repo_root / "graphql" / "schema.graphql").read_text()
    assert committed == sdl(), "graphql/schema.graphql is stale: run `make schema`"


def test_every_type_field_and_argument_is_described(settings: Settings) -> None:
    schema = build_schema(settings)._schema
    missing: list[str] = []
    for name, gtype in schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not gtype.description:
            missing.append(name)
        if isinstance(gtype, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in gtype.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description and arg_name not in ("first", "after", "input"):
                        missing.append(f"{name}.{field_name}({arg_name})")
    assert missing == []


def test_pagination_and_input_arguments_are_documented_by_type(settings: Settings) -> None:
    # first/after/input are exempt above because their meaning is fixed by convention;
    # check here that they keep that meaning everywhere.
    schema = build_schema(settings)._schema
    for gtype in schema.type_map.values():
        if not isinstance(gtype, GraphQLObjectType):
            continue
        for field in gtype.fields.values():
            args = getattr(field, "args", {})
            if "first" in args:
                assert str(args["first"].type) == "Int"
                assert str(args["after"].type) == "String"
            if "input" in args:
                assert str(args["input"].type).rstrip("!").endswith("Input")


async def test_expected_errors_keep_their_code_and_unexpected_ones_are_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @strawberry.type
    class Query:
        @strawberry.field(description="fails as expected")
        def expected(self) -> str:
            raise NotFound("No such thing.")

        @strawberry.field(description="a bug")
        def bug(self) -> str:
            raise RuntimeError("secret internals: password=hunter2")

    schema = ParleySchema(query=Query, extensions=[ErrorFormatter])
    result = await schema.execute("{ expected }")
    assert result.errors
    assert result.errors[0].message == "No such thing."
    assert result.errors[0].extensions == {"code": "NOT_FOUND"}
    with caplog.at_level("ERROR", logger="parley.graphql"):
        result = await schema.execute("{ bug }")
    assert result.errors
    formatted = result.errors[0].formatted
    assert formatted["message"] == "Unexpected error."
    assert formatted["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "hunter2" not in str(formatted)
    assert "hunter2" in caplog.text  # the full error reached the log


async def test_syntax_and_validation_errors(gql: GraphQL) -> None:
    broken = await gql.query("{ viewer { ")
    assert broken.code == "GRAPHQL_VALIDATION_FAILED"
    unknown = await gql.query("{ nope }")
    assert unknown.code == "GRAPHQL_VALIDATION_FAILED"
    wrong_type = await gql.query(
        "query($n: Int) { viewer { workspaces(first: $n) { edges { cursor } } } }",
        {"n": "ten"},
    )
    assert wrong_type.code == "GRAPHQL_VALIDATION_FAILED"
    strict = await gql.query("{ nope }", accept="application/graphql-response+json")
    assert strict.status == 400
    assert strict.headers["content-type"].startswith("application/graphql-response+json")


async def test_page_size_is_capped(factory: Factory) -> None:
    tenant = await factory.tenant()
    too_many = await tenant.gql.op("CurrentWorkspace", {"first": 101})
    assert too_many.code == "VALIDATION"
    negative = await tenant.gql.op("CurrentWorkspace", {"first": -1})
    assert negative.code == "VALIDATION"
    bad_cursor = await tenant.gql.op("CurrentWorkspace", {"after": "bm9wZQ"})
    assert bad_cursor.code == "VALIDATION"
    ok = await tenant.gql.op("CurrentWorkspace", {"first": 100})
    assert ok.data["workspace"]["members"]["pageInfo"]["hasNextPage"] is False


async def test_members_page_with_cursors(factory: Factory) -> None:
    tenant = await factory.tenant()
    for _ in range(3):
        await factory.member(tenant)
    seen: list[str] = []
    after = None
    while True:
        page = (await tenant.gql.op("CurrentWorkspace", {"first": 1, "after": after})).data[
            "workspace"
        ]["members"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 4


async def test_mutations_are_refused_over_get(http: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.account()
    response = await http.get(
        "/graphql",
        params={"query": 'mutation { createWorkspace(input: {name: "x"}) { id } }'},
        headers={"authorization": f"Bearer {account.token}"},
    )
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    query = await http.get(
        "/graphql",
        params={"query": "{ viewer { user { email } } }"},
        headers={"authorization": f"Bearer {account.token}"},
    )
    assert query.json()["data"]["viewer"]["user"]["email"] == account.email


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"not json", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"query": 5}', "application/json", 400),
        (b'{"query": "{ viewer { user { id } } }", "variables": []}', "application/json", 400),
        (b"query=x", "application/x-www-form-urlencoded", 415),
        (b'{"variables": {}}', "application/json", 400),
    ],
)
async def test_malformed_requests_get_clean_errors(
    http: httpx.AsyncClient, body: bytes, content_type: str, status: int
) -> None:
    response = await http.post("/graphql", content=body, headers={"content-type": content_type})
    assert response.status_code == status
    error = response.json()["errors"][0]
    assert error["message"] and "Traceback" not in error["message"]


async def test_oversized_body_is_refused(http: httpx.AsyncClient) -> None:
    big = (
        b'{"query": "{ viewer { user { id } } }", "variables": {"x": "' + b"a" * 1_100_000 + b'"}}'
    )
    response = await http.post(
        "/graphql", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_deep_and_aliased_documents_are_refused(gql: GraphQL) -> None:
    # The schema has no cycles deep enough to exceed the limit legally, so a document that
    # nests 20 levels is both invalid and too deep; the depth limiter must say so.
    deep = "{ viewer " + "{ user " * 20 + "{ id }" + " }" * 20 + " }"
    result = await gql.query(deep)
    assert result.status in (200, 400)
    assert any(e["extensions"].get("limit") == "depth" for e in result.errors)
    aliases = "{ " + " ".join(f"a{i}: viewer {{ user {{ id }} }}" for i in range(40)) + " }"
    assert (await gql.query(aliases)).code == "GRAPHQL_VALIDATION_FAILED"
    tokens = "{ viewer { user { " + " ".join(["id"] * 2500) + " } } }"
    assert (await gql.query(tokens)).code == "GRAPHQL_VALIDATION_FAILED"
