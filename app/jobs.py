"""Jobs recorded with the transaction that creates their work, enqueued after its commit.

Services never talk to the queue: they add to the caller's JobBuffer. The code that owns the
transaction (a GraphQL request, a job, a script) then:

1. `await jobs.stage(session)` just before COMMIT: the jobs are written to the job outbox in
   the same transaction, so the commit records them together with the data;
2. COMMIT (or, on rollback, `jobs.discard()`: nothing was recorded, nothing runs);
3. `await jobs.deliver(queue, session, timeout_s)` (or `jobs.deliver_from(state)` outside a
   request): hand them to arq and delete their outbox rows. Jobs Redis did not take (down,
   slow) stay in the outbox, and the relay in the workers (app/outbox/relay.py) delivers them
   once it can. A job is therefore never dropped, and never runs against a row that was
   rolled back; ids are all a job ever receives.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.ids import uuid7
from app.db.tenant import set_tenant
from app.observability import metrics
from app.outbox import repository
from app.outbox.delivery import Enqueuer, enqueue, wake

if TYPE_CHECKING:
    from app.state import AppState

log = logging.getLogger(__name__)

QUEUE_INTERACTIVE = "arq:interactive"
QUEUE_BULK = "arq:bulk"
QUEUE_CRON = "arq:cron"  # periodic jobs only (see app/worker.py)


@dataclass(frozen=True, slots=True)
class PendingJob:
    """A job to record before commit and enqueue after it."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    function: str
    args: tuple[Any, ...]
    job_id: str
    queue: str = QUEUE_BULK
    defer_until: dt.datetime | None = None

    def row(self) -> dict[str, Any]:
        """The job's outbox row."""
        return {
            "workspace_id": self.workspace_id,
            "id": self.id,
            "function": self.function,
            "args": list(self.args),
            "job_id": self.job_id,
            "queue": self.queue,
            "defer_until": self.defer_until,
        }


def _workspace_argument(function: str, args: tuple[Any, ...]) -> uuid.UUID:
    try:
        return uuid.UUID(str(args[0]))
    except (IndexError, ValueError) as exc:
        raise ValueError(
            f"job {function} must take the workspace id as its first argument"
        ) from exc


@dataclass
class JobBuffer:
    """Jobs gathered during one transaction."""

    jobs: list[PendingJob] = field(default_factory=list)
    staged: int = 0

    def add(
        self,
        function: str,
        *args: Any,
        job_id: str | None = None,
        queue: str = QUEUE_BULK,
        defer_s: float | None = None,
    ) -> None:
        """Schedule `function(*args)` for after commit. Jobs take the workspace id first (it
        keys the outbox row); arguments must be JSON values. `job_id` de-duplicates in arq;
        without one the job gets a unique id of its own."""
        pending_id = uuid7()
        self.jobs.append(
            PendingJob(
                id=pending_id,
                workspace_id=_workspace_argument(function, args),
                function=function,
                args=args,
                job_id=job_id or f"job:{pending_id}",
                queue=queue,
                defer_until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=defer_s)
                if defer_s
                else None,
            )
        )

    async def stage(self, session: AsyncSession) -> None:
        """Record the gathered jobs in the session's transaction; call just before COMMIT,
        with the jobs' workspace as the transaction's tenant."""
        await repository.insert_jobs(session, [job.row() for job in self.jobs[self.staged :]])
        self.staged = len(self.jobs)

    async def deliver_from(self, state: AppState, queue: Enqueuer | None = None) -> int:
        """`deliver` for code outside a request (jobs, scripts): in a session of its own, to
        `queue` (a job's own arq connection) or the state's queue, within the configured
        OUTBOX_ENQUEUE_TIMEOUT_S."""
        async with state.sessions() as session:
            return await self.deliver(
                queue or state.queue, session, state.settings.outbox.enqueue_timeout_s
            )

    async def deliver(self, queue: Enqueuer | None, session: AsyncSession, timeout_s: float) -> int:
        """After COMMIT: hand the staged jobs to arq and delete their outbox rows, in a new
        transaction on `session`. Returns how many were handed over; the rest stay in the
        outbox for the relay. Never raises for an unreachable Redis or database."""
        if self.staged != len(self.jobs):
            raise RuntimeError("JobBuffer.deliver called with jobs that were never staged")
        jobs, self.jobs, self.staged = self.jobs, [], 0
        if not jobs:
            return 0
        delivered: list[PendingJob] = []
        if queue is None:
            log.info("no job queue in this process; %d job(s) left to the outbox relay", len(jobs))
        else:
            for job in jobs:
                try:
                    await enqueue(queue, job, timeout_s)
                except Exception as exc:
                    log.warning(
                        "job queue unavailable (%s); %d job(s) left to the outbox relay",
                        type(exc).__name__,
                        len(jobs) - len(delivered),
                    )
                    break
                delivered.append(job)
        if queue is not None and any(
            job.queue == QUEUE_INTERACTIVE and job.defer_until is None for job in delivered
        ):
            # A visitor is waiting: the interactive workers pick the job up now rather than
            # at their next poll (half the poll delay on average, ~12 ms measured at 20 ms).
            await wake(queue, QUEUE_INTERACTIVE, timeout_s)
        metrics.outbox_jobs("request", "delivered", len(delivered))
        metrics.outbox_jobs("request", "left", len(jobs) - len(delivered))
        await _forget(session, delivered)
        return len(delivered)

    def discard(self) -> None:
        """Forget the gathered jobs (the transaction rolled back, so none was recorded)."""
        self.jobs.clear()
        self.staged = 0


async def _forget(session: AsyncSession, delivered: list[PendingJob]) -> None:
    by_workspace: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for job in delivered:
        by_workspace[job.workspace_id].append(job.id)
    try:
        for workspace_id, ids in by_workspace.items():
            async with session.begin():
                await set_tenant(session, workspace_id)
                await repository.delete_jobs(session, workspace_id, ids)
    except Exception as exc:
        # The jobs are in arq; the relay sends them again later and arq skips known ids.
        log.warning("delivered jobs stay in the outbox: %s", type(exc).__name__)
