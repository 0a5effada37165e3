"""Failed log-ins and refused cross-tenant attempts are recorded even though the requests that
caused them fail and roll back; the targeted workspace's admins see the attempt, nobody else."""

from __future__ import annotations

import asyncpg

from tests.ops.conftest import raw_id
from tests.support.factories import PASSWORD, Factory
from tests.support.graphql import GraphQL


async def test_failed_log_in_is_stored_without_the_typed_email(
    gql: GraphQL, factory: Factory, admin_db: asyncpg.Connection
) -> None:
    account = await factory.account("victim")
    wrong = await gql.op(
        "LogIn",
        {"input": {"email": account.email, "password": "not-the-password"}},
        **{"x-request-id": "req-failed-login-1", "user-agent": "pytest-agent"},
    )
    assert wrong.code == "UNAUTHENTICATED"
    unknown_email = f"nobody-{account.user_id[-6:]}@example.org"
    assert (
        await gql.op("LogIn", {"input": {"email": unknown_email, "password": PASSWORD}})
    ).code == "UNAUTHENTICATED"

    row = await admin_db.fetchrow(
        "SELECT * FROM security_events WHERE request_id = 'req-failed-login-1'"
    )
    assert row is not None
    assert row["kind"] == "login_failed"
    assert str(row["user_id"]) == str(raw_id(account.user_id, "User"))
    assert str(row["ip"]) == "203.0.113.7"
    assert row["user_agent"] == "pytest-agent"
    # Nothing typed by the caller is kept: neither the email nor the password.
    everything = await admin_db.fetch("SELECT row_to_json(e)::text AS j FROM security_events e")
    dump = "\n".join(r["j"] for r in everything)
    assert account.email not in dump and unknown_email not in dump
    assert "not-the-password" not in dump


async def test_cross_tenant_attempt_lands_in_the_target_workspace_audit_log(
    gql: GraphQL, factory: Factory, admin_db: asyncpg.Connection
) -> None:
    target = await factory.tenant("Target Co")
    intruder_home = await factory.tenant("Intruder Co")
    intruder = intruder_home.owner
    refused = await gql.as_(intruder.token, target.id).op(
        "CurrentWorkspace", **{"x-request-id": "req-cross-tenant-1"}
    )
    assert refused.code == "FORBIDDEN"

    events = (await target.gql.op("AuditLog", {"action": "access.cross_tenant_refused"})).data
    nodes = [e["node"] for e in events["workspace"]["auditLog"]["edges"]]
    assert len(nodes) == 1
    assert nodes[0]["actorType"] == "user"
    assert nodes[0]["actorId"] == intruder.user_id

    # The intruder's own workspace log holds no such entry...
    own = (await intruder_home.gql.op("AuditLog", {"action": "access.cross_tenant_refused"})).data
    assert own["workspace"]["auditLog"]["edges"] == []
    # ...and the global record names the target.
    row = await admin_db.fetchrow(
        "SELECT * FROM security_events WHERE request_id = 'req-cross-tenant-1'"
    )
    assert row["kind"] == "cross_tenant_refused"
    assert row["target_workspace_id"] == raw_id(target.id)


async def test_secret_key_used_for_another_workspace_is_recorded(
    gql: GraphQL, factory: Factory, admin_db: asyncpg.Connection
) -> None:
    home = await factory.tenant("Key Home")
    target = await factory.tenant("Key Target")
    created = await home.gql.op("CreateSecretKey", {"input": {"name": "ci", "role": "MEMBER"}})
    key = created.data["createSecretKey"]["key"]
    refused = await gql.as_(key, target.id).op(
        "CurrentWorkspace", **{"x-request-id": "req-key-cross-1"}
    )
    assert refused.code == "FORBIDDEN"
    row = await admin_db.fetchrow(
        "SELECT * FROM security_events WHERE request_id = 'req-key-cross-1'"
    )
    assert row["kind"] == "cross_tenant_refused"
    assert row["details"] and "secret_key" in row["details"]
    audit = (await target.gql.op("AuditLog", {"action": "access.cross_tenant_refused"})).data
    assert [e["node"]["actorType"] for e in audit["workspace"]["auditLog"]["edges"]] == ["key"]


async def test_attempt_on_a_workspace_that_does_not_exist_is_kept_globally_only(
    gql: GraphQL, factory: Factory, admin_db: asyncpg.Connection
) -> None:
    account = await factory.account("prober")
    ghost = "0190f000-0000-7000-8000-000000000001"
    refused = await gql.as_(account.token, ghost).op(
        "CurrentWorkspace", **{"x-request-id": "req-ghost-1"}
    )
    assert refused.code == "FORBIDDEN"
    row = await admin_db.fetchrow("SELECT * FROM security_events WHERE request_id = 'req-ghost-1'")
    assert str(row["target_workspace_id"]) == ghost
    assert (
        await admin_db.fetchval(
            "SELECT count(*) FROM audit_log WHERE workspace_id = $1::uuid", ghost
        )
        == 0
    )


async def test_application_role_cannot_read_security_events_back(
    services: object, settings: object
) -> None:
    from app.db.engine import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(services.app_url))  # type: ignore[attr-defined]
    try:
        try:
            await conn.fetch("SELECT user_id, ip FROM security_events LIMIT 1")
        except asyncpg.InsufficientPrivilegeError:
            pass
        else:
            raise AssertionError("the application role could read security events")
    finally:
        await conn.close()
