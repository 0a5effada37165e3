"""Automatic persisted queries (Apollo protocol) and the widget's allowlist-only mode."""

from __future__ import annotations

import hashlib
import json

from tests.app.protect.conftest import MakeApp, ProtectedApp
from tests.support.factories import Factory, Tenant
from tests.support.graphql import operation

GR = "application/graphql-response+json"
QUERY = "query Typename { __typename }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(digest: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_miss_then_register_then_hit(make_app: MakeApp) -> None:
    app = await make_app()
    digest = sha(QUERY)

    miss = await app.post({"extensions": persisted(digest)})
    assert miss.status_code == 200  # Apollo clients resend on this; a 400 would turn APQ off
    error = miss.json()["errors"][0]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "data" not in miss.json()
    assert "ratelimit" in miss.headers

    strict = await app.post({"extensions": persisted(digest)}, accept=GR)
    assert strict.status_code == 404  # no data: not a 2xx in the newer media type

    registered = await app.post({"query": QUERY, "extensions": persisted(digest)})
    assert registered.status_code == 200
    assert registered.json()["data"] == {"__typename": "Query"}

    hit = await app.post({"extensions": persisted(digest)})
    assert hit.json()["data"] == {"__typename": "Query"}
    # Apollo Client sends hashed queries over GET.
    over_get = await app.http.get("/graphql", params={"extensions": json.dumps(persisted(digest))})
    assert over_get.status_code == 200
    assert over_get.json()["data"] == {"__typename": "Query"}


async def test_documents_are_shared_by_every_api_process_through_redis(make_app: MakeApp) -> None:
    first = await make_app()
    query = "query Other { viewer { user { id } } }"
    await first.post({"query": query, "extensions": persisted(sha(query))})
    # Another process: same Redis and prefix, an empty in-process cache.
    second = await make_app(prefix=first.settings.redis.key_prefix)
    hit = await second.post({"extensions": persisted(sha(query))})
    assert hit.json()["data"] == {"viewer": {"user": None}}


async def test_hash_mismatch_and_bad_hashes_are_refused(make_app: MakeApp) -> None:
    app = await make_app()
    mismatch = await app.post({"query": QUERY, "extensions": persisted(sha("{ other }"))})
    assert mismatch.status_code == 400
    assert mismatch.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "data" not in mismatch.json()
    # Nothing was stored under the wrong hash.
    assert (await app.post({"extensions": persisted(sha("{ other }"))})).json()["errors"][0][
        "extensions"
    ]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    not_hex = await app.post({"extensions": persisted("xyz")})
    assert not_hex.status_code == 400
    assert "64 hexadecimal digits" in not_hex.json()["errors"][0]["message"]
    version = await app.post(
        {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": sha(QUERY)}}}
    )
    assert version.status_code == 400
    assert version.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"


async def test_documents_that_fail_are_not_remembered(make_app: MakeApp) -> None:
    app = await make_app()
    broken = "query Broken { nope }"
    failed = await app.post({"query": broken, "extensions": persisted(sha(broken))})
    assert failed.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    again = await app.post({"extensions": persisted(sha(broken))})
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def widget(app: ProtectedApp, factory: Factory) -> tuple[Tenant, dict[str, str]]:
    tenant = await factory.tenant()
    created = (
        await tenant.gql.op(
            "CreatePublishableKey",
            {"input": {"name": "site", "allowedOrigins": ["https://shop.example.com"]}},
        )
    ).data["createPublishableKey"]
    headers = {
        "authorization": f"Bearer {created['key']}",
        "origin": "https://shop.example.com",
    }
    return tenant, headers


async def test_publishable_keys_run_only_allowlisted_operations(
    make_app: MakeApp, factory: Factory
) -> None:
    app = await make_app()
    tenant, headers = await widget(app, factory)
    document = operation("WidgetViewer")

    by_hash = await app.post(
        {"operationName": "WidgetViewer", "extensions": persisted(sha(document))}, **headers
    )
    assert by_hash.status_code == 200, by_hash.text
    assert by_hash.json()["data"] == {"viewer": {"user": None}}

    # The text works too, however it is formatted.
    reformatted = "query WidgetViewer{viewer{user{id}}}"
    by_text = await app.post({"query": reformatted}, **headers)
    assert by_text.json()["data"] == {"viewer": {"user": None}}

    for body in (
        {"query": "query Mine { viewer { user { id email } } }"},
        {"query": "{ __typename }"},
        {"extensions": persisted(sha("query Mine { viewer { user { id } } }"))},
    ):
        refused = await app.post(body, **headers)
        assert refused.status_code == 403
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        assert "data" not in refused.json()

    # The same document may still be run by the workspace's own users.
    user = await app.gql(tenant.owner.token, tenant.id).query(
        "query Mine { viewer { user { id } } }"
    )
    assert user.status == 200
    # A registered APQ document does not open the allowlist.
    mine = "query Registered { __typename }"
    await app.gql(tenant.owner.token, tenant.id).http.post(
        "/graphql", json={"query": mine, "extensions": persisted(sha(mine))}
    )
    refused = await app.post({"extensions": persisted(sha(mine))}, **headers)
    assert refused.status_code == 403


async def test_widget_calls_have_their_own_visitor_budget(
    make_app: MakeApp, factory: Factory
) -> None:
    from tests.app.protect.conftest import limits

    app = await make_app(ratelimit=limits(visitor_per_window=2, api_per_window=100))
    _, headers = await widget(app, factory)
    body = {"extensions": persisted(sha(operation("WidgetViewer")))}
    statuses = [(await app.post(body, **headers)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = await app.post(body, **headers)
    assert refused.json()["errors"][0]["extensions"]["limit"] == "visitor"
    assert '"visitor";q=2;w=60' in refused.headers["ratelimit-policy"]
