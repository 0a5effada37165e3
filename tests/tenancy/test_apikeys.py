"""Secret and publishable API keys: shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import hashlib

import pytest

from app.state import AppState
from tests.support.factories import Factory
from tests.support.graphql import GraphQL

# Publishable keys may run only the widget's persisted operations; this is one of them.
WIDGET_CONFIG = "StartWidgetSession"


async def test_secret_key_acts_in_its_workspace_with_its_role(
    gql: GraphQL, factory: Factory
) -> None:
    tenant = await factory.tenant("Keyed")
    created = (
        await tenant.gql.op("CreateSecretKey", {"input": {"name": "server", "role": "ADMIN"}})
    ).data["createSecretKey"]
    key = created["key"]
    assert key.startswith("sk_") and created["apiKey"]["preview"] == f"sk_…{key[-4:]}"
    client = gql.as_(key)
    ws = (await client.op("CurrentWorkspace")).data["workspace"]
    assert ws["id"] == tenant.id and ws["viewerRole"] == "ADMIN"
    invited = await client.op("InviteMember", {"input": {"email": "from-key@example.com"}})
    assert invited.data["inviteMember"]["invitation"]["email"] == "from-key@example.com"
    # A key is not a person: owner-only actions stay closed to it.
    assert (await client.op("DeleteWorkspace", {"confirmSlug": tenant.slug})).code == (
        "UNAUTHENTICATED"
    )
    # The audit log names the key as the actor.
    log = (await tenant.gql.op("AuditLog", {"action": "invitation.created"})).data
    assert log["workspace"]["auditLog"]["edges"][0]["node"]["actorType"] == "secret_key"


async def test_member_key_cannot_manage(gql: GraphQL, factory: Factory) -> None:
    tenant = await factory.tenant()
    key = (
        await tenant.gql.op("CreateSecretKey", {"input": {"name": "ro", "role": "MEMBER"}})
    ).data["createSecretKey"]["key"]
    denied = await gql.as_(key).op("CreateSecretKey", {"input": {"name": "x", "role": "ADMIN"}})
    assert denied.code == "FORBIDDEN"


async def test_keys_are_stored_hashed(state: AppState, factory: Factory) -> None:
    tenant = await factory.tenant()
    key = (await tenant.gql.op("CreateSecretKey", {"input": {"name": "h"}})).data[
        "createSecretKey"
    ]["key"]
    # Read as the database owner (superuser URL) to see exactly what is stored.
    import asyncpg

    from app.db.engine import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(state.settings.database.admin_url))
    try:
        rows = await conn.fetch("SELECT secret_hash, last_four FROM api_keys WHERE name = 'h'")
    finally:
        await conn.close()
    stored = {bytes(r["secret_hash"]) for r in rows}
    assert hashlib.sha256(key.encode()).digest() in stored
    assert all(key.encode() not in s for s in stored)


async def test_revoked_and_forged_keys_are_rejected(gql: GraphQL, factory: Factory) -> None:
    tenant = await factory.tenant()
    other = await factory.tenant()
    created = (await tenant.gql.op("CreateSecretKey", {"input": {"name": "k"}})).data[
        "createSecretKey"
    ]
    key = created["key"]
    other_key = (await other.gql.op("CreateSecretKey", {"input": {"name": "k"}})).data[
        "createSecretKey"
    ]["key"]
    # The secret part of A's key under B's workspace id: looked up in B, finds nothing.
    forged = "sk_" + other_key.split("_")[1] + "_" + key.split("_", 2)[2]
    for bad in (forged, "sk_" + "0" * 32 + "_" + "a" * 43, "sk_nothex_" + "a" * 43, "sk_"):
        result = await gql.as_(bad).op("CurrentWorkspace")
        assert result.status == 401, bad
    # A key presented with another workspace's header is refused.
    assert (await gql.as_(key, other.id).op("CurrentWorkspace")).code == "FORBIDDEN"

    revoked = await tenant.gql.op("RevokeApiKey", {"id": created["apiKey"]["id"]})
    assert revoked.data["revokeApiKey"]["revokedAt"]
    assert (await gql.as_(key).op("CurrentWorkspace")).status == 401
    assert (await tenant.gql.op("RevokeApiKey", {"id": created["apiKey"]["id"]})).code == (
        "NOT_FOUND"
    )


async def test_publishable_key_is_bound_to_origins(gql: GraphQL, factory: Factory) -> None:
    tenant = await factory.tenant()
    created = (
        await tenant.gql.op(
            "CreatePublishableKey",
            {
                "input": {
                    "name": "site",
                    "allowedOrigins": ["https://Shop.Example.com:443/", "http://localhost:5173"],
                }
            },
        )
    ).data["createPublishableKey"]
    assert created["apiKey"]["allowedOrigins"] == [
        "https://shop.example.com",
        "http://localhost:5173",
    ]
    key = created["key"]
    client = gql.as_(key)
    for origin in (
        None,
        "null",
        "https://evil-example.com",
        "https://shop.example.com.evil.io",
        "http://shop.example.com",
        "https://shop.example.com:8443",
    ):
        headers = {"origin": origin} if origin else {}
        refused = await client.op(WIDGET_CONFIG, **headers)
        assert refused.code == "FORBIDDEN", origin
    allowed = await client.op(WIDGET_CONFIG, origin="https://shop.example.com")
    assert allowed.data["startWidgetSession"]["visitorToken"]
    # A publishable key never reaches dashboard operations.
    # A publishable key never reaches dashboard operations: it may run only the allowlist.
    dashboard = await client.op("CurrentWorkspace", origin="https://shop.example.com")
    assert dashboard.code == "PERSISTED_QUERY_NOT_IN_LIST"
    keys = await client.op(
        "CreateSecretKey", {"input": {"name": "x"}}, origin="https://shop.example.com"
    )
    assert keys.code == "PERSISTED_QUERY_NOT_IN_LIST"


@pytest.mark.parametrize(
    "origins",
    [
        [],
        ["ftp://x.com"],
        ["https://x.com/path"],
        ["null"],
        ["https://"],
        ["https://*.com"],
        ["https://a.com"] * 21,
        ["https://user:pw@x.com"],
        ["https://x.com:99999"],
    ],
)
async def test_publishable_key_origin_validation(factory: Factory, origins: list[str]) -> None:
    tenant = await factory.tenant()
    result = await tenant.gql.op(
        "CreatePublishableKey", {"input": {"name": "bad", "allowedOrigins": origins}}
    )
    assert result.code == "VALIDATION", origins


async def test_wildcard_origin_matches_subdomains_only(gql: GraphQL, factory: Factory) -> None:
    tenant = await factory.tenant()
    key = (
        await tenant.gql.op(
            "CreatePublishableKey",
            {"input": {"name": "w", "allowedOrigins": ["https://*.example.com"]}},
        )
    ).data["createPublishableKey"]["key"]
    client = gql.as_(key)
    assert (await client.op(WIDGET_CONFIG, origin="https://a.example.com")).status == 200
    assert (await client.op(WIDGET_CONFIG, origin="https://a.b.example.com")).status == 200
    for origin in ("https://example.com", "https://evilexample.com", "http://a.example.com"):
        assert (await client.op(WIDGET_CONFIG, origin=origin)).code == "FORBIDDEN", origin


async def test_set_allowed_origins(gql: GraphQL, factory: Factory) -> None:
    tenant = await factory.tenant()
    created = (
        await tenant.gql.op(
            "CreatePublishableKey",
            {"input": {"name": "s", "allowedOrigins": ["https://one.example"]}},
        )
    ).data["createPublishableKey"]
    updated = await tenant.gql.op(
        "SetAllowedOrigins",
        {"id": created["apiKey"]["id"], "allowedOrigins": ["https://two.example"]},
    )
    assert updated.data["setAllowedOrigins"]["allowedOrigins"] == ["https://two.example"]
    client = gql.as_(created["key"])
    assert (await client.op(WIDGET_CONFIG, origin="https://one.example")).code == "FORBIDDEN"
    assert (await client.op(WIDGET_CONFIG, origin="https://two.example")).status == 200


async def test_last_used_at_is_recorded(gql: GraphQL, factory: Factory) -> None:
    tenant = await factory.tenant()
    created = (await tenant.gql.op("CreateSecretKey", {"input": {"name": "used"}})).data[
        "createSecretKey"
    ]
    before = (await tenant.gql.op("WorkspaceAdmin")).data["workspace"]["apiKeys"]["edges"]
    assert [k["node"]["lastUsedAt"] for k in before] == [None]
    await gql.as_(created["key"]).op("CurrentWorkspace")
    after = (await tenant.gql.op("WorkspaceAdmin")).data["workspace"]["apiKeys"]["edges"]
    assert after[0]["node"]["lastUsedAt"] is not None
