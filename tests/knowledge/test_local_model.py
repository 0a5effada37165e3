"""The local all-MiniLM-L6-v2 model end to end (no OpenAI endpoint at all), and switching a
workspace's embedding model: everything is re-embedded and search moves over only when done."""

import time

import pytest
from sqlalchemy import text

from app.db.tenant import tenant_transaction
from app.knowledge import ingest
from tests.support.ai import Stack
from tests.support.knowledge import add_document, row_id

pytestmark = pytest.mark.slow

POLICY = """# Help centre

## Refunds

If a product disappoints you, send it back within 30 days and we reimburse the full price.

## Delivery

Parcels are handed to the courier the day after you order.
"""


async def models_in_use(stack: Stack, workspace: str) -> dict[str, int]:
    async with tenant_transaction(stack.state.sessions, row_id(workspace)) as session:
        rows = await session.execute(
            text("SELECT embedding_model, count(*) FROM chunks GROUP BY embedding_model")
        )
        return {row[0]: row[1] for row in rows}


async def test_offline_workspace_answers_with_the_local_model(local: Stack) -> None:
    tenant = await local.factory.tenant()
    kb = (await tenant.gql.op("KnowledgeBase")).data["knowledgeBase"]
    assert (kb["embeddingModel"], kb["embeddingDimensions"]) == ("all-MiniLM-L6-v2", 384)
    doc = await add_document(tenant, POLICY)
    await local.drain(limit_s=120)
    assert (await tenant.gql.op("Document", {"id": doc["id"]})).data["document"]["status"] == (
        "READY"
    )
    # No word in common with the passage: only a real embedding model finds it.
    hits = (await tenant.gql.op("Search", {"query": "How do I get my money back?", "k": 2})).data[
        "search"
    ]
    assert hits[0]["headingPath"] == ["Help centre", "Refunds"]
    assert hits[0]["relevant"] is True
    asked = (await tenant.gql.op("Ask", {"input": {"question": "Can I get my money back?"}})).data
    await local.drain(limit_s=60)
    answer = (await tenant.gql.op("Message", {"id": asked["ask"]["answer"]["id"]})).data["message"]
    assert (answer["mode"], answer["citations"][0]["documentId"]) == ("EXTRACTIVE", doc["id"])
    assert "reimburse the full price" in answer["content"]
    offline = await tenant.gql.op("SetEmbeddingModel", {"model": "text-embedding-3-small"})
    assert offline.code == "VALIDATION"
    assert "none is configured" in offline.errors[0]["message"]


async def test_changing_the_model_re_embeds_and_switches_when_done(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    first = await add_document(tenant, POLICY)
    await extractive.drain()
    assert await models_in_use(extractive, tenant.id) == {"text-embedding-3-small": 2}
    member = (await extractive.factory.member(tenant, "MEMBER"))[1]
    refused = await member.op("SetEmbeddingModel", {"model": "all-MiniLM-L6-v2"})
    assert refused.code == "FORBIDDEN"
    unknown = await tenant.gql.op("SetEmbeddingModel", {"model": "word2vec"})
    assert unknown.code == "VALIDATION"

    pending = (await tenant.gql.op("SetEmbeddingModel", {"model": "all-MiniLM-L6-v2"})).data[
        "setEmbeddingModel"
    ]
    assert (pending["embeddingModel"], pending["pendingEmbeddingModel"]) == (
        "text-embedding-3-small",
        "all-MiniLM-L6-v2",
    )
    # One slice of re-embedding, cut short: both sets exist, search still uses the old one.
    outcome = await ingest.reembed_slice(
        extractive.state, row_id(tenant.id), "all-MiniLM-L6-v2", deadline=time.monotonic()
    )
    assert outcome == "continue"
    assert await models_in_use(extractive, tenant.id) == {
        "text-embedding-3-small": 2,
        "all-MiniLM-L6-v2": 2,
    }
    hits = (await tenant.gql.op("Search", {"query": "refunds reimburse", "k": 5})).data["search"]
    assert len(hits) == 2  # not four: one model's chunks only
    # A document added meanwhile gets chunks for both models.
    second = await add_document(tenant, "Gift cards never expire.", "TEXT")
    await extractive.drain(limit_s=120)
    kb = (await tenant.gql.op("KnowledgeBase")).data["knowledgeBase"]
    assert (kb["embeddingModel"], kb["pendingEmbeddingModel"], kb["embeddingDimensions"]) == (
        "all-MiniLM-L6-v2",
        None,
        384,
    )
    assert kb["chunkCount"] == 3
    assert await models_in_use(extractive, tenant.id) == {"all-MiniLM-L6-v2": 3}
    hits = (await tenant.gql.op("Search", {"query": "Do vouchers run out?", "k": 1})).data["search"]
    assert hits[0]["documentId"] == second["id"]
    assert first["id"] != second["id"]


async def test_choosing_the_active_model_again_cancels_a_switch(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    await add_document(tenant, POLICY)
    await extractive.drain()
    await tenant.gql.op("SetEmbeddingModel", {"model": "all-MiniLM-L6-v2"})
    back = (await tenant.gql.op("SetEmbeddingModel", {"model": "text-embedding-3-small"})).data[
        "setEmbeddingModel"
    ]
    assert (back["embeddingModel"], back["pendingEmbeddingModel"]) == (
        "text-embedding-3-small",
        None,
    )
    await extractive.drain()  # the queued re-embedding job finds its target gone
    assert await models_in_use(extractive, tenant.id) == {"text-embedding-3-small": 2}
