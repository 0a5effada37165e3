"""arq jobs of the knowledge base; all run on the bulk queue.

Jobs take ids, set the tenant from the workspace id they were given and load rows under
row-level security, so a forged pair finds nothing. Provider failures that may pass (429s
beyond the in-job wait, 5xx, timeouts) are retried by arq with growing delays; the last try
marks the document failed with the provider's reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from arq import Retry
from arq.worker import func

from app.db.ids import uuid7
from app.jobs import QUEUE_BULK
from app.knowledge import ingest
from app.openai_api import ProviderError
from app.state import AppState

log = logging.getLogger(__name__)


def retry_delay(state: AppState, job_try: int) -> float:
    """Seconds before try `job_try + 1`: 5, 20, 45, 80... by default."""
    return state.settings.knowledge.retry_base_s * job_try * job_try


async def ingest_document(
    ctx: dict[str, Any], workspace_id: str, document_id: str, revision: int
) -> str:
    """Process one revision of a document: extract, chunk, embed, store."""
    state: AppState = ctx["state"]
    ws, doc = uuid.UUID(workspace_id), uuid.UUID(document_id)
    job_try = int(ctx.get("job_try", 1))
    max_tries = state.settings.worker.max_tries
    # Our own bound, under arq's, so an overrun ends as a recorded failure rather than a
    # document stuck in `processing`.
    budget = max(1.0, state.settings.knowledge.ingest_timeout_s - 5.0)
    try:
        async with asyncio.timeout(budget):
            outcome = await ingest.ingest_document(state, ws, doc, revision)
    except ProviderError as exc:
        if exc.retryable and job_try < max_tries:
            log.warning("ingestion try %d failed, retrying: %s", job_try, exc)
            raise Retry(defer=retry_delay(state, job_try)) from exc
        outcome = await ingest.fail_document(state, ws, doc, revision, f"Embedding failed: {exc}")
    except TimeoutError:
        if job_try < max_tries:
            raise Retry(defer=retry_delay(state, job_try)) from None
        outcome = await ingest.fail_document(
            state, ws, doc, revision, f"Processing took longer than {budget:.0f} s."
        )
    return outcome.status


async def reembed_workspace(ctx: dict[str, Any], workspace_id: str, target: str, part: int) -> str:
    """Re-embed a workspace with `target` in slices; each slice re-enqueues the next, so one
    job never runs into arq's timeout however large the workspace."""
    state: AppState = ctx["state"]
    ws = uuid.UUID(workspace_id)
    job_try = int(ctx.get("job_try", 1))
    deadline = time.monotonic() + state.settings.knowledge.reembed_slice_s
    try:
        result = await ingest.reembed_slice(state, ws, target, deadline=deadline)
    except ProviderError as exc:
        if exc.retryable and job_try < state.settings.worker.max_tries:
            raise Retry(defer=retry_delay(state, job_try)) from exc
        log.error("re-embedding %s gave up: %s", workspace_id, exc)
        raise
    if result == "continue" and state.queue is not None:
        await state.queue.enqueue_job(
            "reembed_workspace",
            workspace_id,
            target,
            part + 1,
            _queue_name=QUEUE_BULK,
            _job_id=f"reembed:{workspace_id}:{target}:{uuid7()}",
        )
    return result


FUNCTIONS: list[Any] = [
    func(ingest_document, name="ingest_document"),
    func(reembed_workspace, name="reembed_workspace"),
]
CRON_JOBS: list[Any] = []
