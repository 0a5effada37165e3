"""Handing outbox jobs to arq, shared by the request that wrote them and the relay."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Enqueuer(Protocol):
    """The part of arq's pool we use."""

    async def enqueue_job(self, function: str, *args: Any, **kwargs: Any) -> Any:
        """Put a job on a queue."""

    async def publish(self, channel: str, message: bytes) -> Any:
        """Publish on a Redis channel (wakes the queue's workers)."""


class QueuedJob(Protocol):
    """What delivery needs of a job, pending in memory or read back from the outbox."""

    @property
    def function(self) -> str: ...
    @property
    def args(self) -> Any: ...
    @property
    def job_id(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def defer_until(self) -> dt.datetime | None: ...


def wake_channel(queue_name: str) -> str:
    """The channel a queue's workers listen on to look at the queue at once instead of at
    their next poll."""
    return f"{queue_name}:wake"


async def wake(queue: Enqueuer, queue_name: str, timeout_s: float) -> None:
    """Tell `queue_name`'s workers that a job is waiting. Best effort: a lost wake-up only
    means the job is found by the next poll."""
    try:
        async with asyncio.timeout(timeout_s):
            await queue.publish(wake_channel(queue_name), b"1")
    except Exception as exc:
        log.debug("wake-up of %s not sent: %s", queue_name, type(exc).__name__)


async def enqueue(queue: Enqueuer, job: QueuedJob, timeout_s: float) -> None:
    """Put `job` on its arq queue, waiting at most `timeout_s` for Redis. arq skips a job
    whose id it already holds (queued, running, or finished within keep_result), so a job
    delivered twice runs once in the usual case; jobs are idempotent for the rest."""
    kwargs: dict[str, Any] = {"_queue_name": job.queue, "_job_id": job.job_id}
    if job.defer_until is not None:
        kwargs["_defer_until"] = job.defer_until
    async with asyncio.timeout(timeout_s):
        await queue.enqueue_job(job.function, *job.args, **kwargs)
