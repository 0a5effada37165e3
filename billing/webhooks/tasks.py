"""arq jobs of the webhook ledger: process one event; requeue stalled and unmatched ones."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from arq import cron
from sqlalchemy import update

from app.jobs import QUEUE_INTERACTIVE, JobBuffer
from app.state import AppState
from billing.webhooks import repository, service
from billing.webhooks.http import PROCESS_JOB, job_id
from billing.webhooks.models import RazorpayEvent

log = logging.getLogger(__name__)


async def _record_failure(state: AppState, event_id: str, exc: BaseException) -> None:
    try:
        async with state.sessions() as session, session.begin():
            await session.execute(
                update(RazorpayEvent)
                .where(
                    RazorpayEvent.event_id == event_id,
                    RazorpayEvent.status.in_(("received", "unmatched", "failed")),
                )
                .values(
                    status="failed",
                    outcome=f"{type(exc).__name__}: {exc}"[:500],
                    attempts=RazorpayEvent.attempts + 1,
                    processed_at=dt.datetime.now(dt.UTC),
                )
            )
    except Exception:
        log.exception("could not record the failure of event %s", event_id)


async def process_razorpay_event(ctx: dict[str, Any], event_id: str) -> str:
    """Process one stored Razorpay event, exactly once: the ledger row is locked for the
    transaction that applies the effects and marks it processed, so a second run (arq may run
    a job twice; the requeue job may add another) finds it done."""
    state: AppState = ctx["state"]
    grace = dt.timedelta(seconds=state.settings.billing.grace_period_s)
    jobs = JobBuffer()
    try:
        async with state.sessions() as session, session.begin():
            event = await repository.lock_event(session, event_id)
            if event is None:
                return "no such event"
            if event.status in ("processed", "ignored"):
                return f"already {event.status}"
            await repository.commit_without_waiting_for_disk(session)
            outcome = await service.process(session, event, grace=grace, jobs=jobs)
            await repository.finish(session, event_id, status=outcome.status, outcome=outcome.note)
            await jobs.stage(session)
    except Exception as exc:
        jobs.discard()
        await _record_failure(state, event_id, exc)
        raise
    if outcome.status == "unmatched":
        log.warning("razorpay event %s unmatched: %s", event_id, outcome.note)
    await jobs.deliver_from(state, ctx.get("redis"))
    return f"{outcome.status}: {outcome.note}"[:500]


async def requeue_razorpay_events(ctx: dict[str, Any]) -> int:
    """Enqueue events whose processing never started (the enqueue after storing them was
    lost) and unmatched or failed ones whose next retry is due."""
    state: AppState = ctx["state"]
    settings = state.settings.billing
    now = dt.datetime.now(dt.UTC)
    async with state.sessions() as session, session.begin():
        ids = await repository.due_for_retry(
            session,
            now,
            stalled_after=dt.timedelta(seconds=settings.requeue_after_s),
            delays=settings.unmatched_retry_delays_s,
            limit=500,
        )
    queue = ctx.get("redis") or state.queue
    for event_id in ids:
        await queue.enqueue_job(
            PROCESS_JOB,
            event_id,
            _job_id=f"{job_id(event_id)}:retry:{int(now.timestamp())}",
            _queue_name=QUEUE_INTERACTIVE,
        )
    if ids:
        log.info("requeued %d razorpay events", len(ids))
    return len(ids)


FUNCTIONS = [process_razorpay_event, requeue_razorpay_events]
CRON_JOBS = [cron(requeue_razorpay_events, second=30, run_at_startup=False)]
