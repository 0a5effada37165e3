"""The number of SQL statements per operation is fixed: no N+1 as lists grow."""

from __future__ import annotations

from tests.conftest import StatementLog
from tests.support.factories import Factory
from tests.support.graphql import GraphQL


async def _count(log: StatementLog, client: GraphQL, name: str) -> int:
    log.statements.clear()
    log.recording = True
    try:
        (await client.op(name)).data  # noqa: B018 - asserts no errors
    finally:
        log.recording = False
    return len(log)


async def test_statement_counts_do_not_grow_with_data(
    gql: GraphQL, factory: Factory, sql_log: StatementLog
) -> None:
    tenant = await factory.tenant()
    client = tenant.gql
    await client.op("InviteMember", {"input": {"email": "first-pending@example.com"}})
    small = {
        name: await _count(sql_log, client, name)
        for name in ("Viewer", "CurrentWorkspace", "WorkspaceAdmin")
    }
    # The free plan allows 5 members including pending invitations: grow those within it.
    await factory.member(tenant)
    await client.op("InviteMember", {"input": {"email": "pending@example.com"}})
    for i in range(4):
        await factory.tenant(f"More{i}", owner=tenant.owner)
        await client.op("CreateSecretKey", {"input": {"name": f"k{i}"}})
    large = {name: await _count(sql_log, client, name) for name in small}
    assert large == small, sql_log.statements
    # The figures themselves, locked: authentication (set user, session check, membership,
    # set tenant) is 4; each field adds its queries. A change here must be deliberate.
    assert small == {"Viewer": 6, "CurrentWorkspace": 6, "WorkspaceAdmin": 9}
