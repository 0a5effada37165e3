"""Document.addedBy and Document.chunks: who added a document, and its passages in order,
page by page, only the workspace's own."""

from tests.support.ai import Stack
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
