"""renameDocument: a new title without processing the content again, in the caller's
workspace only."""

from app.graphql.node import from_global_id, to_global_id
from app.jobs import QUEUE_BULK
from app.state import AppState
from tests.support.factories import Factory
from tests.support.knowledge import add_document


async def test_rename_changes_only_the_title(factory: Factory, state: AppState) -> None:
    tenant = await factory.tenant()
    doc = await add_document(tenant, "# Opening hours\n\nNine to five.")
    queued = await state.redis.zcard(QUEUE_BULK)
    result = await tenant.gql.op("RenameDocument", {"id": doc["id"], "title": "  Hours  "})
    renamed = result.data["renameDocument"]
    assert (renamed["id"], renamed["title"]) == (doc["id"], "Hours")
    assert renamed["updatedAt"] > doc["updatedAt"]
    after = (await tenant.gql.op("Document", {"id": doc["id"]})).data["document"]
    assert after["title"] == "Hours"
    assert (after["revision"], after["status"], after["sizeBytes"]) == (
        doc["revision"],
        doc["status"],
        doc["sizeBytes"],
    )
    assert await state.redis.zcard(QUEUE_BULK) == queued  # nothing to process again


async def test_rename_refuses_bad_titles_and_faq_entries(factory: Factory) -> None:
    tenant = await factory.tenant()
    doc = await add_document(tenant, "Some text.", fmt="TEXT", title="Kept")
    for title, message in [
        ("   ", "title must not be empty."),
        ("t" * 301, "title must be at most 300 characters (got 301)."),
    ]:
        result = await tenant.gql.op("RenameDocument", {"id": doc["id"], "title": title})
        assert result.code == "VALIDATION", result.body
        assert result.errors[0]["message"] == message
    faq = (
        await tenant.gql.op(
            "CreateFaqEntry", {"input": {"question": "Open on Sunday?", "answer": "No."}}
        )
    ).data["createFaqEntry"]
    _, faq_id = from_global_id(faq["id"])
    result = await tenant.gql.op(
        "RenameDocument", {"id": to_global_id("Document", faq_id), "title": "Renamed"}
    )
    assert result.code == "NOT_FOUND"
    title = (await tenant.gql.op("Document", {"id": doc["id"]})).data["document"]["title"]
    assert title == "Kept"


async def test_another_workspace_cannot_rename(factory: Factory) -> None:
    owner = await factory.tenant("Owner")
    other = await factory.tenant("Other")
    doc = await add_document(owner, "Private notes.", fmt="TEXT", title="Private")
    result = await other.gql.op("RenameDocument", {"id": doc["id"], "title": "Mine now"})
    assert result.code == "NOT_FOUND"
    title = (await owner.gql.op("Document", {"id": doc["id"]})).data["document"]["title"]
    assert title == "Private"
