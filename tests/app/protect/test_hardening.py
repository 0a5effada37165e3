"""Hostile and malformed requests are refused with clean 4xx errors, before anything runs."""

from __future__ import annotations

import json

import httpx

from app.config import ApiSettings
from tests.app.protect.conftest import MakeApp
from tests.support.factories import Factory

GR = "application/graphql-response+json"


def assert_clean(response: httpx.Response, status: int, code: str) -> dict:
    """A GraphQL-shaped error with the code, no data entry and nothing from a traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]][:1] == [code], body
    assert "data" not in body
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    return body


async def test_deep_documents_are_refused(make_app: MakeApp) -> None:
    app = await make_app(api=ApiSettings(max_query_depth=5))
    inner = "members { edges { node { id } } }"
    document = f"{{ viewer {{ user {{ workspaces {{ edges {{ node {{ {inner} }} }} }} }} }} }}"
    body = assert_clean(
        await app.post({"query": document}, accept=GR), 400, "GRAPHQL_VALIDATION_FAILED"
    )
    assert body["errors"][0]["extensions"]["limit"] == "depth"
    assert "the maximum is 5" in body["errors"][0]["message"]


async def test_aliased_documents_are_refused(make_app: MakeApp) -> None:
    app = await make_app(api=ApiSettings(max_aliases=10))
    document = "{ " + " ".join(f"a{i}: __typename" for i in range(11)) + " }"
    body = assert_clean(
        await app.post({"query": document}, accept=GR), 400, "GRAPHQL_VALIDATION_FAILED"
    )
    assert body["errors"][0]["extensions"] == {
        "code": "GRAPHQL_VALIDATION_FAILED",
        "limit": "aliases",
        "maximum": 10,
    }
    # Aliases hidden in fragments count too.
    fragment = "fragment F on Query { " + " ".join(f"b{i}: __typename" for i in range(6)) + " }"
    users = " ".join(f"{name}: user {{ id }}" for name in "cdefg")
    spread = {
        "query": "{ ...F x: viewer { ...G } } "
        + fragment
        + f" fragment G on Viewer {{ ...H }} fragment H on Viewer {{ {users} }}"
    }
    assert_clean(await app.post(spread, accept=GR), 400, "GRAPHQL_VALIDATION_FAILED")


async def test_fragment_cycles_are_refused(make_app: MakeApp) -> None:
    app = await make_app()
    document = (
        "{ viewer { ...A } } "
        "fragment A on Viewer { user { id } ...B } fragment B on Viewer { ...A }"
    )
    body = assert_clean(
        await app.post({"query": document}, accept=GR), 400, "GRAPHQL_VALIDATION_FAILED"
    )
    assert "Cannot spread fragment 'A' within itself" in body["errors"][0]["message"]


async def test_fragment_bombs_are_refused_without_walking_every_spread(make_app: MakeApp) -> None:
    # Each fragment spreads the next twice: 2^60 viewer.user selections in 1.4 kB. Walking every
    # spread would never finish; measuring each fragment once refuses it on cost at once.
    app = await make_app()
    fragments = " ".join(
        f"fragment F{i} on Viewer {{ ...F{i + 1} ...F{i + 1} }}" for i in range(60)
    )
    document = f"{{ viewer {{ ...F0 }} }} {fragments} fragment F60 on Viewer {{ user {{ id }} }}"
    body = assert_clean(
        await app.post({"query": document}, accept=GR), 400, "GRAPHQL_VALIDATION_FAILED"
    )
    assert body["errors"][0]["extensions"]["limit"] == "cost"
    assert body["errors"][0]["extensions"]["cost"] > 2**60


async def test_bodies_over_the_cap_are_refused(make_app: MakeApp) -> None:
    app = await make_app(api=ApiSettings(max_body_bytes=1_048_576))
    document = "{ __typename " + " " * 1_048_576 + "}"
    body = assert_clean(await app.post({"query": document}, accept=GR), 413, "PAYLOAD_TOO_LARGE")
    assert "1048576 bytes" in body["errors"][0]["message"]


async def test_documents_over_the_token_limit_are_refused(make_app: MakeApp) -> None:
    app = await make_app(api=ApiSettings(max_tokens=2_000))
    document = "{ " + " ".join("__typename" for _ in range(2_500)) + " }"  # ~27 kB, under the cap
    body = assert_clean(
        await app.post({"query": document}, accept=GR), 400, "GRAPHQL_VALIDATION_FAILED"
    )
    assert "more than 2000 tokens" in body["errors"][0]["message"]


async def test_batches_are_off_unless_configured_with_a_maximum(make_app: MakeApp) -> None:
    ops = [{"query": "{ __typename }"}] * 3
    off = await make_app()
    body = assert_clean(await off.post(ops[:2]), 400, "BAD_REQUEST")
    assert "not enabled" in body["errors"][0]["message"]

    on = await make_app(api=ApiSettings(max_batch=2))
    ok = await on.post(ops[:2])
    assert ok.status_code == 200
    assert (
        ok.json()
        == [
            {"data": {"__typename": "Query"}, "extensions": {"cost": {"estimated": 0, "points": 1}}}
        ]
        * 2
    )
    assert "ratelimit" in ok.headers
    body = assert_clean(await on.post(ops), 400, "BAD_REQUEST")
    assert "1 to 2 operations" in body["errors"][0]["message"]


async def test_queries_over_get_but_never_mutations(make_app: MakeApp) -> None:
    app = await make_app()
    query = await app.http.get("/graphql", params={"query": "{ __typename }"})
    assert query.status_code == 200
    assert query.json()["data"] == {"__typename": "Query"}

    mutation = 'mutation { logIn(input: {email: "a@example.com", password: "x"}) { accessToken } }'
    refused = await app.http.get("/graphql", params={"query": mutation}, headers={"accept": GR})
    assert_clean(refused, 405, "METHOD_NOT_ALLOWED")
    assert refused.headers["allow"] == "POST"


async def test_cookie_authenticated_and_multipart_requests_need_csrf_proof(
    make_app: MakeApp,
) -> None:
    app = await make_app()
    params = {"query": "{ __typename }"}
    cookie = {"cookie": "session=abc"}

    forged = await app.http.get("/graphql", params=params, headers=cookie)
    assert_clean(forged, 400, "CSRF_REJECTED")
    proved = await app.http.get("/graphql", params=params, headers={**cookie, "x-parley-csrf": "1"})
    assert proved.status_code == 200
    apollo = await app.http.get(
        "/graphql", params=params, headers={**cookie, "apollo-require-preflight": "true"}
    )
    assert apollo.status_code == 200
    # A JSON POST cannot be sent cross-site without a CORS preflight.
    assert (await app.post(params, **cookie)).status_code == 200
    form = await app.http.post(
        "/graphql", content="query={ __typename }", headers={**cookie, "content-type": "text/plain"}
    )
    assert_clean(form, 400, "CSRF_REJECTED")

    multipart = await app.http.post(
        "/graphql", files={"operations": ("o.json", json.dumps(params))}
    )
    assert_clean(multipart, 400, "CSRF_REJECTED")
    with_proof = await app.http.post(
        "/graphql",
        files={"operations": ("o.json", json.dumps(params))},
        headers={"x-parley-csrf": "1"},
    )
    # Past the CSRF check, the multipart body itself is judged (here: no file map).
    assert with_proof.json()["errors"][0]["extensions"]["code"] != "CSRF_REJECTED"


async def test_malformed_requests_get_clean_errors(make_app: MakeApp) -> None:
    app = await make_app()
    post = app.http.post
    assert_clean(
        await post("/graphql", content=b"{not json", headers={"content-type": "application/json"}),
        400,
        "BAD_REQUEST",
    )
    assert_clean(
        await post("/graphql", content=b"", headers={"content-type": "application/json"}),
        400,
        "BAD_REQUEST",
    )
    assert_clean(
        await post("/graphql", content=b"{}", headers={"content-type": "text/xml"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    latin1 = await post(
        "/graphql",
        content=b'{"query":"{ __typename }"}',
        headers={"content-type": "application/json; charset=latin1"},
    )
    assert_clean(latin1, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_clean(await app.post({"query": 42}), 400, "BAD_REQUEST")
    assert_clean(await app.post({"query": "{ __typename }", "variables": [1]}), 400, "BAD_REQUEST")
    assert_clean(await app.post({"variables": {}}), 400, "BAD_REQUEST")
    unknown_op = await app.post({"query": "query A { __typename }", "operationName": "B"})
    assert_clean(unknown_op, 400, "BAD_REQUEST")
    # Even refusals before a caller is known report the client IP's budget.
    assert "ratelimit" in unknown_op.headers


async def test_media_types_follow_graphql_over_http(make_app: MakeApp) -> None:
    app = await make_app()
    body = {"query": "{ __typename }"}
    cases = {
        None: "application/json",
        "*/*": "application/json",
        "application/json": "application/json",
        GR: GR,
        f"{GR}, application/json;q=0.9": GR,
        f"application/json, {GR};q=0.5": "application/json",
        "text/html, application/*;q=0.8": "application/json",
    }
    for accept, expected in cases.items():
        headers = {"accept": accept} if accept else {}
        response = await app.http.post("/graphql", json=body, headers=headers)
        assert response.status_code == 200, accept
        assert response.headers["content-type"].split(";")[0] == expected, accept

    refused = await app.http.post("/graphql", json=body, headers={"accept": "text/plain"})
    assert_clean(refused, 406, "NOT_ACCEPTABLE")

    # Validation failures: 200 under application/json, 400 under the newer media type.
    invalid = {"query": "{ nope }"}
    legacy = await app.post(invalid, accept="application/json")
    assert legacy.status_code == 200
    assert "data" not in legacy.json()
    assert_clean(await app.post(invalid, accept=GR), 400, "GRAPHQL_VALIDATION_FAILED")
    coercion = {
        "query": "query($n: Int) { viewer { workspaces(first: $n) { edges { cursor } } } }",
        "variables": {"n": "x"},
    }
    assert_clean(await app.post(coercion, accept=GR), 400, "GRAPHQL_VALIDATION_FAILED")


async def test_production_hides_the_schema(make_app: MakeApp, factory: Factory) -> None:
    app = await make_app(env="production")
    introspection = await app.post({"query": "{ __schema { types { name } } }"}, accept=GR)
    assert_clean(introspection, 400, "GRAPHQL_VALIDATION_FAILED")

    typo = await app.post({"query": "{ viewr { user { id } } }"}, accept=GR)
    message = assert_clean(typo, 400, "GRAPHQL_VALIDATION_FAILED")["errors"][0]["message"]
    assert message == "Cannot query field 'viewr' on type 'Query'."

    tenant = await factory.tenant()
    enum = await app.gql(tenant.owner.token, tenant.id).query(
        "mutation($i: CreateSecretKeyInput!) { createSecretKey(input: $i) { key } }",
        {"i": {"name": "k", "role": "OWNR"}},
        accept=GR,
    )
    assert enum.status == 400
    assert "Did you mean" not in enum.errors[0]["message"]

    page = await app.http.get("/graphql", headers={"accept": "text/html"})
    assert "text/html" not in page.headers["content-type"]

    development = await make_app(env="development")
    hinted = await development.post({"query": "{ viewr { user { id } } }"})
    assert "Did you mean 'viewer'?" in hinted.json()["errors"][0]["message"]
    assert (await development.post({"query": "{ __schema { queryType { name } } }"})).json()["data"]
    ide = await development.http.get("/graphql", headers={"accept": "text/html"})
    assert ide.headers["content-type"].startswith("text/html")
