"""Document.addedBy and Document.chunks: who added a document, and its passages in order,
page by page, only the workspace's own."""

import uuid

import asyncpg

from app.db.engine import asyncpg_dsn
from app.graphql.node import from_global_id
from tests.support.ai import Stack
from tests.support.factories import Tenant
from tests.support.knowledge import add_document
from tests.support.services import TestServices

GUIDE = """# Espresso guide

## Grinding

Grind the beans fine, like table salt. A burr grinder keeps the size even.

## Brewing

Pull each shot for 25 to 30 seconds at nine bars of pressure.
"""


async def test_chunks_are_paged_in_order_and_added_by_names_the_author(
    extractive: Stack,
) -> None:
    tenant = await extractive.factory.tenant()
    doc = await add_document(tenant, GUIDE)
    queued = (await tenant.gql.op("DocumentWithChunks", {"id": doc["id"]})).data["document"]
    assert queued["chunks"]["edges"] == []  # nothing until processed
    await extractive.drain()
    first = (await tenant.gql.op("DocumentWithChunks", {"id": doc["id"], "first": 1})).data[
        "document"
    ]["chunks"]
    assert [e["node"]["position"] for e in first["edges"]] == [0]
    assert "burr grinder" in first["edges"][0]["node"]["text"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (
        await tenant.gql.op(
            "DocumentWithChunks",
            {"id": doc["id"], "first": 5, "after": first["pageInfo"]["endCursor"]},
        )
    ).data["document"]["chunks"]
    assert [e["node"]["position"] for e in rest["edges"]] == [1]
    assert "nine bars" in rest["edges"][0]["node"]["text"]
    assert rest["pageInfo"]["hasNextPage"] is False
    page = (await tenant.gql.op("DocumentPage")).data["documents"]["edges"]
    assert [e["node"]["addedBy"]["displayName"] for e in page] == ["Owner"]


async def test_chunks_and_author_of_another_workspace_stay_hidden(extractive: Stack) -> None:
    owner = await extractive.factory.tenant("Owner")
    other = await extractive.factory.tenant("Other")
    doc = await add_document(owner, GUIDE)
    await extractive.drain()
    seen = await other.gql.op("DocumentWithChunks", {"id": doc["id"]})
    assert seen.data["document"] is None
    assert (await other.gql.op("DocumentPage")).data["documents"]["edges"] == []


PAGE_THROUGH_FRAGMENTS = """
query Authors { documents(first: 10) { ...Page } }
fragment Page on DocumentConnection { edges { node { ... on Document { title ...Who } } } }
fragment Who on Document { addedBy { displayName } }
"""
ONE = "query One($id: ID!) { document(id: $id) { addedBy { displayName } } }"


async def test_added_by_names_each_author_on_a_page_and_on_its_own(extractive: Stack) -> None:
    """A page primes its authors in one batch (however the selection reaches addedBy); a
    single document loads its author on demand. Both name the right person."""
    tenant = await extractive.factory.tenant()
    admin, admin_gql = await extractive.factory.member(tenant, "ADMIN")
    mine = await add_document(tenant, "# Mine\n\nWritten by the owner.")
    theirs = await add_document(
        Tenant(tenant.id, tenant.slug, admin, admin_gql), "# Theirs\n\nWritten by the admin."
    )
    edges = (await tenant.gql.query(PAGE_THROUGH_FRAGMENTS)).data["documents"]["edges"]
    assert {e["node"]["title"]: e["node"]["addedBy"]["displayName"] for e in edges} == {
        "Mine": "Owner",
        "Theirs": "Admin",
    }
    for doc, name in ((mine, "Owner"), (theirs, "Admin")):
        one = (await admin_gql.query(ONE, {"id": doc["id"]})).data["document"]
        assert one == {"addedBy": {"displayName": name}}


AUTHORS = """query Authors($status: DocumentStatus) {
  documents(first: 10, status: $status) {
    edges { node { id title addedBy { id email displayName createdAt } } }
  }
}"""
ONE_AUTHOR = (
    "query One($id: ID!) { document(id: $id) { addedBy { id email displayName createdAt } } }"
)


async def test_a_page_joins_its_authors_as_the_loader_reads_them(
    extractive: Stack, services: TestServices
) -> None:
    """The page reads its authors in its own statement and primes the user loader with them;
    each author is the user a single document loads on its own (every field), and a
    document without an author, or whose author's account is gone, has none either way.
    Another workspace's page shows none of these documents or authors."""
    tenant = await extractive.factory.tenant()
    admin, admin_gql = await extractive.factory.member(tenant, "ADMIN")
    as_admin = Tenant(tenant.id, tenant.slug, admin, admin_gql)
    docs = {
        "Owner's": await add_document(tenant, "# Owner's\n\nBy the owner."),
        "Admin's": await add_document(as_admin, "# Admin's\n\nBy the admin."),
        "Orphan": await add_document(as_admin, "# Orphan\n\nIts author is gone."),
        "Nobody's": await add_document(tenant, "# Nobody's\n\nNo author recorded."),
    }
    superuser = await asyncpg.connect(asyncpg_dsn(services.admin_url))
    try:
        await superuser.execute(
            "UPDATE documents SET created_by = $1 WHERE title = 'Orphan' AND created_by = $2",
            uuid.uuid4(),
            from_global_id(admin.user_id, expected="User")[1],
        )
        await superuser.execute("UPDATE documents SET created_by = NULL WHERE title = 'Nobody''s'")
    finally:
        await superuser.close()
    for status in (None, "QUEUED"):  # both forms of the page statement
        edges = (await tenant.gql.query(AUTHORS, {"status": status})).data["documents"]["edges"]
        paged = {e["node"]["title"]: e["node"]["addedBy"] for e in edges}
        assert set(paged) == set(docs)
        for title, doc in docs.items():
            alone = (await tenant.gql.query(ONE_AUTHOR, {"id": doc["id"]})).data["document"]
            assert paged[title] == alone["addedBy"], title
        assert paged["Owner's"]["displayName"] == "Owner"
        assert paged["Admin's"]["displayName"] == "Admin"
        assert paged["Orphan"] is None and paged["Nobody's"] is None
    other = await extractive.factory.tenant("Other")
    assert (await other.gql.query(AUTHORS)).data["documents"]["edges"] == []


PAGE_FIELDS = """
fragment Page on DocumentChunkConnection {
  edges { cursor node { id position text headingPath tokenCount } }
  pageInfo { hasNextPage hasPreviousPage endCursor }
}"""
# The chunk page once: it comes in the document's own statement (queries.py, chunks_asked).
JOINED = (
    "query Joined($id: ID!, $first: Int, $after: String) { document(id: $id) { "
    "chunks(first: $first, after: $after) { ...Page } } }" + PAGE_FIELDS
)
# Twice with different arguments: no single page to join, so both go through the loader.
LOADED = (
    "query Loaded($id: ID!, $first: Int, $after: String) { document(id: $id) { "
    "chunks(first: $first, after: $after) { ...Page } other: chunks(first: 0) { ...Page } } }"
    + PAGE_FIELDS
)


async def test_a_chunk_page_joined_to_its_document_is_the_page_the_loader_reads(
    extractive: Stack,
) -> None:
    """Every page shape (first page, after a cursor, empty, the default size, an invalid
    size) answers the same whether it comes with the document or through the loader."""
    tenant = await extractive.factory.tenant()
    sections = "\n\n".join(f"## Part {n}\n\n" + f"Sentence {n} about milk. " * 40 for n in range(6))
    doc = await add_document(tenant, "# Long guide\n\n" + sections)
    await extractive.drain()
    first = (await tenant.gql.query(JOINED, {"id": doc["id"], "first": 2})).data["document"]
    cursor = first["chunks"]["pageInfo"]["endCursor"]
    assert len(first["chunks"]["edges"]) == 2 and first["chunks"]["pageInfo"]["hasNextPage"]
    for variables in (
        {"first": 2},
        {"first": 3, "after": cursor},
        {"first": 100, "after": cursor},
        {"first": 0},
        {},
    ):
        joined = await tenant.gql.query(JOINED, {"id": doc["id"], **variables})
        loaded = await tenant.gql.query(LOADED, {"id": doc["id"], **variables})
        assert joined.data["document"]["chunks"] == loaded.data["document"]["chunks"], variables
    after_cursor = (
        await tenant.gql.query(JOINED, {"id": doc["id"], "first": 100, "after": cursor})
    ).data["document"]["chunks"]["edges"]
    assert [e["node"]["position"] for e in after_cursor] == list(range(2, 2 + len(after_cursor)))
    assert len(after_cursor) >= 2  # the document has more than four chunks
    # An invalid page is still the field's own error, whichever way it would have come.
    for bad in ({"first": 101}, {"first": 2, "after": "not-a-cursor"}):
        for document in (JOINED, LOADED):
            result = await tenant.gql.query(document, {"id": doc["id"], **bad})
            assert result.code == "VALIDATION", (bad, result.body)
            assert result.errors[0]["path"] == ["document", "chunks"], (bad, result.body)
