"""What each arq queue's worker knows: every job function on both job queues (a job must never
land where its function is unknown), crons on their own queue, and a short lease on the
interactive queue so a crashed worker's answers and payments are retried within seconds."""

from __future__ import annotations

from app.config import Settings
from app.jobs import QUEUE_BULK, QUEUE_CRON, QUEUE_INTERACTIVE
from app.state import AppState
from app.worker import build_workers, cron_jobs, functions


async def test_every_queue_knows_its_jobs_and_the_interactive_lease_is_short(
    settings: Settings, state: AppState
) -> None:
    workers = {w.queue_name: w for w in build_workers(settings, state)}
    try:
        assert set(workers) == {QUEUE_INTERACTIVE, QUEUE_BULK, QUEUE_CRON}
        names = {getattr(f, "name", getattr(f, "__name__", None)) for f in functions()}
        # Jobs enqueued on the interactive queue include answers and Razorpay's payments.
        assert {"answer_question", "process_razorpay_event", "confirm_payment"} <= names
        for queue in (QUEUE_INTERACTIVE, QUEUE_BULK):
            assert names <= set(workers[queue].functions), queue
        crons = {c.name for c in cron_jobs()}
        assert crons and crons <= set(workers[QUEUE_CRON].functions)
        assert not crons & set(workers[QUEUE_INTERACTIVE].functions)
        interactive = workers[QUEUE_INTERACTIVE]
        lease = settings.worker.interactive_job_timeout_s + 10
        assert interactive.in_progress_timeout_s == lease
    finally:
        for worker in workers.values():
            await worker.close()
