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
    # The figures themselves, locked: authentication is 1 (authenticate_user sets the user,
    # checks the session and membership and sets the tenant); each field adds its queries.
    # A change here must be deliberate.
    assert small == {"Viewer": 3, "CurrentWorkspace": 3, "WorkspaceAdmin": 6}


async def _count_op(
    log: StatementLog, client: GraphQL, name: str, variables: dict[str, object]
) -> int:
    log.statements.clear()
    log.recording = True
    try:
        (await client.op(name, variables)).data  # noqa: B018 - asserts no errors
    finally:
        log.recording = False
    return len(log)


async def test_benchmark_operations_have_fixed_statement_counts(
    factory: Factory, sql_log: StatementLog
) -> None:
    """The three operations `make bench` sends (ops/bench/graphql): a page of documents with
    their authors, a document with its chunks, a rename."""
    tenant = await factory.tenant()
    client = tenant.gql

    async def add(n: int) -> str:
        added = await client.op(
            "AddDocument", {"input": {"content": f"Document {n}.", "format": "TEXT"}}
        )
        return str(added.data["addDocument"]["id"])

    first = await add(0)

    def counts(doc: str) -> dict[str, tuple[str, dict[str, object]]]:
        return {
            "DocumentPage": ("DocumentPage", {}),
            "DocumentWithChunks": ("DocumentWithChunks", {"id": doc}),
            "RenameDocument": ("RenameDocument", {"id": doc, "title": "Renamed"}),
        }

    small = {
        name: await _count_op(sql_log, client, op, variables)
        for name, (op, variables) in counts(first).items()
    }
    # More documents, by more authors: the page's authors still come in one query.
    _, member_client = await factory.member(tenant)
    for n in range(1, 4):
        await add(n)
        await member_client.op(
            "AddDocument", {"input": {"content": f"Member document {n}.", "format": "TEXT"}}
        )
    large = {
        name: await _count_op(sql_log, client, op, variables)
        for name, (op, variables) in counts(first).items()
    }
    assert large == small, sql_log.statements
    # Authentication is 1 statement (authenticate_user, migration 0009); then the page is
    # 1 (its authors joined), the document is 1 (its first chunk page joined), the rename 1.
    assert small == {"DocumentPage": 2, "DocumentWithChunks": 2, "RenameDocument": 2}
