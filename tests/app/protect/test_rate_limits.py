"""Rate limits over HTTP: headers, refusals, budgets per principal and per tenant, client IPs."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from app.config import ApiSettings
from tests.app.protect.conftest import MakeApp, ProtectedApp, limits
from tests.support.factories import Factory
from tests.support.statements import observing


@contextlib.contextmanager
def recorded_statements(app: ProtectedApp) -> Iterator[list[str]]:
    """The SQL the app sends while the block runs, through SQLAlchemy or on the driver."""
    statements: list[str] = []
    with observing(app.state.engine, statements.append):
        yield statements


GR = "application/graphql-response+json"
TYPENAME = {"query": "{ __typename }"}


def parse_items(header: str) -> dict[str, dict[str, int]]:
    """A RateLimit / RateLimit-Policy field as {policy: {param: value}}."""
    items = {}
    for member in header.split(","):
        name, *params = member.strip().split(";")
        assert re.fullmatch(r'"[a-z_]+"', name), member
        items[name.strip('"')] = {k: int(v) for k, v in (p.split("=") for p in params)}
    return items


async def test_every_response_reports_its_budget(make_app: MakeApp, factory: Factory) -> None:
    app = await make_app(ratelimit=limits(api_per_window=10, window_s=60))
    tenant = await factory.tenant()
    client = app.gql(tenant.owner.token, tenant.id)

    first = await client.query("{ __typename }")
    assert first.status == 200
    assert parse_items(first.headers["ratelimit-policy"]) == {"workspace": {"q": 10, "w": 60}}
    # GCRA: one point refills every 6 s, so the bucket is full again 6 s after one point.
    assert parse_items(first.headers["ratelimit"]) == {"workspace": {"r": 9, "t": 6}}

    second = await client.query("{ __typename }")
    assert parse_items(second.headers["ratelimit"]) == {"workspace": {"r": 8, "t": 12}}
    assert "retry-after" not in second.headers


async def test_refusal_is_429_with_retry_after_and_says_which_limit(
    make_app: MakeApp, factory: Factory
) -> None:
    app = await make_app(ratelimit=limits(api_per_window=3, window_s=60))
    tenant = await factory.tenant()
    client = app.gql(tenant.owner.token, tenant.id)
    for _ in range(3):
        assert (await client.query("{ __typename }")).status == 200

    for accept in ("application/json", GR):
        refused = await client.query("{ __typename }", accept=accept)
        assert refused.status == 429
        assert refused.headers["content-type"].startswith(accept)
        assert refused.code == "RATE_LIMITED"
        assert "data" not in refused.body  # nothing executed
        error = refused.errors[0]
        assert "workspace budget allows 3 points per 60 s" in error["message"]
        extensions = error["extensions"]
        assert extensions["limit"] == "workspace"
        assert extensions["retryAfter"] == int(refused.headers["retry-after"])
        assert 1 <= extensions["retryAfter"] <= 20
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", extensions["resetsAt"])
        state = parse_items(refused.headers["ratelimit"])["workspace"]
        assert state["r"] == 0
        assert state["t"] == extensions["retryAfter"]  # reset agrees with Retry-After


async def test_one_principal_cannot_use_the_whole_workspace_budget(
    make_app: MakeApp, factory: Factory
) -> None:
    app = await make_app(ratelimit=limits(api_per_window=10, principal_share=0.5))
    tenant = await factory.tenant()
    _, member_gql = await factory.member(tenant)
    owner = app.gql(tenant.owner.token, tenant.id)
    member = app.gql(member_gql.token, tenant.id)

    for _ in range(5):
        assert (await owner.query("{ __typename }")).status == 200
    refused = await owner.query("{ __typename }")
    assert refused.status == 429
    assert refused.errors[0]["extensions"]["limit"] == "user"

    admitted = await member.query("{ __typename }")
    assert admitted.status == 200
    state = parse_items(admitted.headers["ratelimit"])
    assert state["workspace"]["r"] == 4  # 5 from the owner, 1 from the member
    assert state["user"]["r"] == 4


async def test_a_saturated_tenant_leaves_another_untouched(
    make_app: MakeApp, factory: Factory
) -> None:
    app = await make_app(ratelimit=limits(api_per_window=5))
    noisy, quiet = await factory.tenant("Noisy"), await factory.tenant("Quiet")
    noisy_client = app.gql(noisy.owner.token, noisy.id)
    quiet_client = app.gql(quiet.owner.token, quiet.id)

    statuses = [(await noisy_client.query("{ __typename }")).status for _ in range(12)]
    assert statuses == [200] * 5 + [429] * 7

    for expected_remaining in (4, 3):
        result = await quiet_client.query("{ __typename }")
        assert result.status == 200
        assert parse_items(result.headers["ratelimit"])["workspace"]["r"] == expected_remaining
    # B's workspace budget is B's own: A's refusals took nothing from it and vice versa.
    assert (await noisy_client.query("{ __typename }")).status == 429


async def test_larger_documents_cost_more_points(make_app: MakeApp, factory: Factory) -> None:
    app = await make_app(
        ratelimit=limits(api_per_window=100),
        api=ApiSettings(cost_per_point=10, max_query_cost=5_000),
    )
    tenant = await factory.tenant()
    client = app.gql(tenant.owner.token, tenant.id)
    document = "query { workspace { members(first: 50) { edges { node { user { id } } } } } }"

    result = await client.query(document)
    assert result.status == 200
    # workspace 1 + members 1 + 50 x (edges 1 + node 1 + user 1) = 152 -> 16 points at 10 each
    assert result.body["extensions"]["cost"] == {"estimated": 152, "points": 16}
    assert parse_items(result.headers["ratelimit"])["workspace"]["r"] == 84

    small = await client.query("{ __typename }")
    assert small.body["extensions"]["cost"] == {"estimated": 0, "points": 1}
    assert parse_items(small.headers["ratelimit"])["workspace"]["r"] == 83


async def test_documents_over_the_maximum_cost_are_refused_before_running(
    make_app: MakeApp, factory: Factory
) -> None:
    app = await make_app(ratelimit=limits(api_per_window=100), api=ApiSettings(max_query_cost=100))
    tenant = await factory.tenant()
    client = app.gql(tenant.owner.token, tenant.id)
    document = "query { workspace { members(first: 100) { edges { node { id } } } } }"

    for accept, status in ((GR, 400), ("application/json", 200)):
        refused = await client.query(document, accept=accept)
        assert refused.status == status
        assert refused.code == "GRAPHQL_VALIDATION_FAILED"
        error = refused.errors[0]
        assert error["extensions"]["limit"] == "cost"
        assert error["extensions"]["maximum"] == 100
        assert "data" not in refused.body
    # Refused documents are still charged one point each.
    assert parse_items(refused.headers["ratelimit"])["workspace"]["r"] == 98


async def test_anonymous_callers_are_limited_per_client_ip(make_app: MakeApp) -> None:
    app = await make_app(ratelimit=limits(anonymous_per_window=3))
    client = app.gql()
    for remaining in (2, 1, 0):
        result = await client.query("{ __typename }")
        assert result.status == 200
        assert parse_items(result.headers["ratelimit"]) == {
            "ip": {"r": remaining, "t": 20 * (3 - remaining)}
        }
    refused = await client.query("{ __typename }")
    assert refused.status == 429
    assert refused.errors[0]["extensions"]["limit"] == "ip"

    other_ip = await make_app(
        ratelimit=app.settings.ratelimit,
        prefix=app.settings.redis.key_prefix,
        client_ip="198.51.100.20",
    )
    assert (await other_ip.gql().query("{ __typename }")).status == 200


async def test_spoofed_forwarded_for_is_ignored_without_a_trusted_proxy(make_app: MakeApp) -> None:
    app = await make_app(ratelimit=limits(anonymous_per_window=3))
    client = app.gql()
    statuses = [
        (await client.query("{ __typename }", **{"x-forwarded-for": f"192.0.2.{i}"})).status
        for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


async def test_forwarded_for_is_believed_only_through_trusted_proxies(make_app: MakeApp) -> None:
    app = await make_app(
        ratelimit=limits(anonymous_per_window=2),
        api=ApiSettings(trusted_proxies=["203.0.113.0/24"]),  # the test client's address
    )
    client = app.gql()

    async def status(forwarded: str) -> int:
        return (await client.query("{ __typename }", **{"x-forwarded-for": forwarded})).status

    # Two real clients behind the proxy get a budget each.
    assert [await status("198.51.100.1") for _ in range(3)] == [200, 200, 429]
    assert await status("198.51.100.2") == 200
    # A client prepending fake hops is still itself: the proxy appended its real address.
    assert await status("10.9.9.9, 198.51.100.2") == 200
    assert await status("1.2.3.4, 198.51.100.2") == 429
    # Hops are believed only while they are trusted proxies, from the right.
    assert await status("198.51.100.3, 203.0.113.50") == 200


async def test_failed_authentication_is_charged_to_the_client_ip(make_app: MakeApp) -> None:
    app = await make_app(ratelimit=limits(anonymous_per_window=2))
    client = app.gql("sk_live_not-a-real-key")
    first = await client.query("{ __typename }")
    assert first.status == 401
    assert first.code == "UNAUTHENTICATED"
    assert parse_items(first.headers["ratelimit"])["ip"]["r"] == 1
    assert (await client.query("{ __typename }")).status == 401
    refused = await client.query("{ __typename }")
    assert refused.status == 429
    assert refused.code == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1


async def test_a_refused_caller_is_refused_again_without_any_work(
    make_app: MakeApp, factory: Factory
) -> None:
    app = await make_app(ratelimit=limits(api_per_window=2))
    noisy, quiet = await factory.tenant("Noisy"), await factory.tenant("Quiet")
    client = app.gql(noisy.owner.token, noisy.id)
    assert [(await client.query("{ __typename }")).status for _ in range(3)] == [200, 200, 429]

    with recorded_statements(app) as statements:
        again = await client.query("{ __typename }")
        assert statements == []  # no authentication, no transaction
        assert again.status == 429
        assert again.code == "RATE_LIMITED"
        assert int(again.headers["retry-after"]) >= 1
        assert parse_items(again.headers["ratelimit"])["workspace"]["r"] == 0
        # Another tenant on the same process still gets the full path.
        assert (await app.gql(quiet.owner.token, quiet.id).query("{ __typename }")).status == 200
        assert statements


async def test_a_query_refused_while_it_ran_answers_only_the_refusal(
    make_app: MakeApp, factory: Factory
) -> None:
    """A query's decision may arrive after it executed (app/graphql/protection.py); refused,
    it must still answer 429 with no data, and the caller's next queries are decided first."""
    app = await make_app(ratelimit=limits(api_per_window=20), api=ApiSettings(cost_per_point=1))
    tenant = await factory.tenant()
    client = app.gql(tenant.owner.token, tenant.id)
    # 1 (workspace) + 1 (members) + 5 x (edge + node) = 12 points
    document = "query { workspace { id name members(first: 5) { edges { node { role } } } } }"
    admitted = await client.query(document)
    assert admitted.status == 200
    assert admitted.body["data"]["workspace"]["members"]["edges"]

    with recorded_statements(app) as statements:
        for ran in (True, False):
            statements.clear()
            refused = await client.query(document)  # 12 points, 8 left
            assert refused.status == 429
            assert refused.code == "RATE_LIMITED"
            assert "data" not in refused.body
            assert int(refused.headers["retry-after"]) >= 1
            assert parse_items(refused.headers["ratelimit"])["workspace"]["r"] == 8
            # The first ran while Redis decided; once refused, the caller is decided first.
            assert any("memberships" in s for s in statements) is ran, statements
            assert not any(s.strip().upper().startswith("COMMIT") for s in statements)
    assert (await client.query("{ __typename }")).status == 200  # one point still fits


async def test_a_mutation_over_budget_never_runs(make_app: MakeApp, factory: Factory) -> None:
    """Mutations may have effects beyond their transaction: they are decided before running,
    even for a caller that was never refused."""
    app = await make_app(ratelimit=limits(api_per_window=2))
    tenant = await factory.tenant()
    client = app.gql(tenant.owner.token, tenant.id)
    assert (await client.query("{ __typename }")).status == 200
    assert (await client.query("{ __typename }")).status == 200

    with recorded_statements(app) as statements:
        refused = await client.query(
            "mutation($i: CreateSecretKeyInput!) { createSecretKey(input: $i) { key } }",
            {"i": {"name": "over budget"}},
        )
    assert refused.status == 429
    assert refused.code == "RATE_LIMITED"
    assert "data" not in refused.body
    assert statements  # authentication ran
    assert not any("api_keys" in s and "INSERT" in s.upper() for s in statements), statements
