"""Jobs enqueued after commit.

Services never talk to the queue: they add to the request's JobBuffer, and the request (or
job) that owns the transaction enqueues the buffer only after COMMIT succeeded. A job therefore
never runs against a row that was rolled back, and ids are all a job ever receives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

QUEUE_INTERACTIVE = "arq:interactive"
QUEUE_BULK = "arq:bulk"
QUEUE_CRON = "arq:cron"  # periodic jobs only (see app/worker.py)


class Enqueuer(Protocol):
    """The part of arq's pool we use."""

    async def enqueue_job(self, function: str, *args: Any, **kwargs: Any) -> Any:
        """Put a job on a queue."""


@dataclass(frozen=True, slots=True)
class PendingJob:
    """A job to enqueue once the transaction commits."""

    function: str
    args: tuple[Any, ...]
    job_id: str | None = None
    queue: str = QUEUE_BULK
    defer_s: float | None = None


@dataclass
class JobBuffer:
    """Jobs gathered during one transaction."""

    jobs: list[PendingJob] = field(default_factory=list)

    def add(
        self,
        function: str,
        *args: Any,
        job_id: str | None = None,
        queue: str = QUEUE_BULK,
        defer_s: float | None = None,
    ) -> None:
        """Schedule `function(*args)` for after commit. `job_id` de-duplicates in arq."""
        self.jobs.append(PendingJob(function, args, job_id, queue, defer_s))

    async def flush(self, queue: Enqueuer | None) -> None:
        """Enqueue everything gathered; call only after COMMIT."""
        jobs, self.jobs = self.jobs, []
        if queue is None:
            if jobs:
                log.warning("no job queue configured; dropped %d job(s)", len(jobs))
            return
        for job in jobs:
            kwargs: dict[str, Any] = {"_queue_name": job.queue}
            if job.job_id:
                kwargs["_job_id"] = job.job_id
            if job.defer_s:
                kwargs["_defer_by"] = job.defer_s
            await queue.enqueue_job(job.function, *job.args, **kwargs)

    def discard(self) -> None:
        """Forget the gathered jobs (the transaction rolled back)."""
        self.jobs.clear()
