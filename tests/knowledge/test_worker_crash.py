"""A worker killed in the middle of a document: after a restart the document ends READY with
exactly one set of chunks. The worker is a real `parley worker` subprocess, SIGKILLed."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db.tenant import tenant_transaction
from tests.support import services as test_services
from tests.support.ai import Stack, services_env
from tests.support.knowledge import add_document, row_id
from tests.support.openai_server import FakeOpenAI, Reply

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def start_worker(env: dict[str, str], log: Path, queue: str = "bulk") -> subprocess.Popen[bytes]:
    """A `parley worker` for one queue, with its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--queue", queue],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def document_state(stack: Stack, workspace: str, document: str) -> tuple[str, int, int]:
    async with tenant_transaction(stack.state.sessions, row_id(workspace)) as session:
        status, attempts = (
            await session.execute(
                text("SELECT status, attempts FROM documents WHERE id = :d"),
                {"d": row_id(document)},
            )
        ).one()
        chunks = await session.scalar(
            text("SELECT count(*) FROM chunks WHERE document_id = :d"), {"d": row_id(document)}
        )
    return status, attempts, int(chunks or 0)


async def test_killed_worker_leaves_no_duplicates_after_restart(
    extractive: Stack, fake_openai: FakeOpenAI, services: test_services.TestServices, tmp_path: Path
) -> None:
    tenant = await extractive.factory.tenant()
    body = "\n\n".join(
        f"Paragraph {i} explains detail number {i} of the manual." for i in range(40)
    )
    doc = await add_document(tenant, body, "TEXT", title="Manual")
    env = {
        **services_env(services, extractive.settings, fake_openai.url),
        "EMBEDDING_BATCH_SIZE": "1",  # one request per chunk
        "WORKER_JOB_TIMEOUT_S": "3",  # a dead worker's job is picked up again after 3 + 10 s
        "WORKER_BULK_POLL_DELAY_S": "0.1",
    }
    # Slow embeddings, so the kill lands in the middle of the document.
    fake_openai.script("embeddings", *[Reply(delay_s=0.3)] * 8)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        for _ in range(200):
            if len(fake_openai.calls("embeddings")) >= 2:
                break
            await asyncio.sleep(0.05)
        assert len(fake_openai.calls("embeddings")) >= 2, log.read_text()
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        status, attempts, chunks = await document_state(extractive, tenant.id, doc["id"])
        assert (status, attempts, chunks) == ("processing", 1, 0)

        worker = start_worker(env, log)
        for _ in range(600):
            status, attempts, chunks = await document_state(extractive, tenant.id, doc["id"])
            if status != "processing":
                break
            await asyncio.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
    assert (status, attempts) == ("ready", 2), log.read_text()[-3000:]
    async with tenant_transaction(extractive.state.sessions, row_id(tenant.id)) as session:
        positions = list(
            await session.scalars(
                text("SELECT position FROM chunks WHERE document_id = :d ORDER BY position"),
                {"d": row_id(doc["id"])},
            )
        )
    assert positions == list(range(len(positions)))  # one set, no duplicates
    assert chunks == len(positions) > 1
