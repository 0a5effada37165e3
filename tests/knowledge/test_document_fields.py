"""Document.addedBy and Document.chunks: who added a document, and its passages in order,
page by page, only the workspace's own."""

from tests.support.ai import Stack
from tests.support.factories import Tenant
from tests.support.knowledge import add_document

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
