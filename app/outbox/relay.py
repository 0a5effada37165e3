"""The outbox relay: delivers the jobs whose request could not hand them to arq.

Every worker process runs one (`run`), every OUTBOX_RELAY_INTERVAL_S. A round finds the
workspaces with jobs older than OUTBOX_RELAY_GRACE_S through the maintenance role (it may read
only which workspaces have waiting jobs, and since when), then, per workspace, in a transaction
scoped to it: locks its due jobs with `FOR UPDATE SKIP LOCKED` (so relays in other processes
take other rows, never the same), enqueues them, and deletes those arq took. The grace keeps the
relay away from jobs that their own request is delivering at that moment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from app.db.tenant import tenant_transaction
from app.observability import metrics
from app.outbox import repository
from app.outbox.delivery import Enqueuer, enqueue
from app.state import AppState

log = logging.getLogger(__name__)

# Workspaces one round visits at most; the next round takes the rest.
WORKSPACES_PER_ROUND = 100


@dataclass
class Round:
    """What one relay round did."""

    depth: int = 0
    delivered: int = 0
    left: int = 0


async def _workspace(
    state: AppState, queue: Enqueuer, workspace_id: uuid.UUID, grace: dt.timedelta
) -> tuple[int, int]:
    settings = state.settings.outbox
    async with tenant_transaction(state.sessions, workspace_id) as session:
        jobs = await repository.lock_due(
            session, workspace_id, older_than=grace, limit=settings.relay_batch
        )
        delivered: list[uuid.UUID] = []
        for job in jobs:
            try:
                await enqueue(queue, job, settings.enqueue_timeout_s)
            except Exception as exc:
                log.debug("outbox relay: job queue unavailable (%s)", type(exc).__name__)
                break
            delivered.append(job.id)
        await repository.delete_jobs(session, workspace_id, delivered)
    return len(delivered), len(jobs) - len(delivered)


async def relay_once(state: AppState, queue: Enqueuer) -> Round:
    """One round over the workspaces with due jobs; stops at the first job Redis refuses."""
    grace = dt.timedelta(seconds=state.settings.outbox.relay_grace_s)
    done = Round()
    async with state.sessions() as session, session.begin():
        done.depth, workspaces = await repository.waiting(
            session,
            state.settings.database.maintenance_role,
            older_than=grace,
            limit=WORKSPACES_PER_ROUND,
        )
    metrics.outbox_depth(done.depth)
    for workspace_id in workspaces:
        delivered, left = await _workspace(state, queue, workspace_id, grace)
        done.delivered += delivered
        done.left += left
        if left:
            break
    metrics.outbox_jobs("relay", "delivered", done.delivered)
    metrics.outbox_jobs("relay", "left", done.left)
    if done.delivered:
        log.info("outbox relay delivered %d job(s)", done.delivered, extra={"depth": done.depth})
    return done


async def run(state: AppState, queue: Enqueuer, interval_s: float) -> None:
    """Relay rounds every `interval_s` until cancelled; failures (database or Redis away)
    are logged and the next round tries again."""
    stuck = False  # log the start and the end of a stretch of failures, not every round
    while True:
        try:
            failing = (await relay_once(state, queue)).left > 0
            reason = "the job queue refused jobs"
        except Exception as exc:
            failing, reason = True, type(exc).__name__
        if failing and not stuck:
            log.warning("outbox relay cannot deliver (%s); jobs wait in the outbox", reason)
        elif stuck and not failing:
            log.info("outbox relay delivering again")
        stuck = failing
        await asyncio.sleep(interval_s)
