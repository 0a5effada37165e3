"""Provider trouble during ingestion: 429s throttle the import instead of failing it, 5xx and
timeouts are retried by arq, and what cannot succeed fails the document with the reason."""

import time

from tests.support.ai import Stack
from tests.support.knowledge import add_document
from tests.support.openai_server import FakeOpenAI, Reply


async def status(stack: Stack, tenant, doc_id: str) -> dict:
    return (await tenant.gql.op("Document", {"id": doc_id})).data["document"]


async def test_rate_limits_slow_the_import_down_without_failing_it(
    extractive: Stack, fake_openai: FakeOpenAI
) -> None:
    tenant = await extractive.factory.tenant()
    docs = [await add_document(tenant, f"Topic {i} is documented here.", "TEXT") for i in range(3)]
    fake_openai.script(
        "embeddings",
        Reply(status=429, headers={"retry-after": "0.4"}),
        Reply(status=429, headers={"retry-after-ms": "300"}),
    )
    started = time.monotonic()
    await extractive.drain()
    elapsed = time.monotonic() - started
    results = [await status(extractive, tenant, d["id"]) for d in docs]
    assert [(r["status"], r["attempts"]) for r in results] == [("READY", 1)] * 3
    # Retry-After was honoured (the waits of concurrent jobs overlap: at least the longest),
    # and within the same tries: nobody failed or went back to arq.
    assert elapsed >= 0.4
    assert len(fake_openai.calls("embeddings")) == 5


async def test_server_errors_are_retried_by_arq(extractive: Stack, fake_openai: FakeOpenAI) -> None:
    tenant = await extractive.factory.tenant()
    doc = await add_document(tenant, "Parking is behind the building.", "TEXT")
    fake_openai.script("embeddings", Reply(status=500), Reply(status=503))
    await extractive.drain()
    result = await status(extractive, tenant, doc["id"])
    assert (result["status"], result["attempts"], result["error"]) == ("READY", 3, None)


async def test_a_provider_that_keeps_failing_fails_the_document_with_the_reason(
    extractive: Stack, fake_openai: FakeOpenAI
) -> None:
    tenant = await extractive.factory.tenant()
    doc = await add_document(tenant, "The printer is on the second floor.", "TEXT")
    fake_openai.script("embeddings", *[Reply(status=502)] * extractive.settings.worker.max_tries)
    await extractive.drain()
    result = await status(extractive, tenant, doc["id"])
    assert result["status"] == "FAILED"
    assert result["attempts"] == extractive.settings.worker.max_tries
    assert result["error"].startswith("Embedding failed: The model provider failed with HTTP 502")
    # Reprocessing after the provider recovered makes it ready.
    again = (await tenant.gql.op("ReprocessDocument", {"id": doc["id"]})).data["reprocessDocument"]
    assert (again["status"], again["revision"]) == ("QUEUED", 2)
    await extractive.drain()
    assert (await status(extractive, tenant, doc["id"]))["status"] == "READY"
    done = await tenant.gql.op("ReprocessDocument", {"id": doc["id"]})
    assert done.code == "CONFLICT"


async def test_a_refused_request_is_not_retried(extractive: Stack, fake_openai: FakeOpenAI) -> None:
    tenant = await extractive.factory.tenant()
    doc = await add_document(tenant, "Lunch is served at noon.", "TEXT")
    fake_openai.script("embeddings", Reply(status=400))
    await extractive.drain()
    result = await status(extractive, tenant, doc["id"])
    assert (result["status"], result["attempts"]) == ("FAILED", 1)
    assert "refused the request (HTTP 400)" in result["error"]
