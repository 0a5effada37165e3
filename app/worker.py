"""The arq worker: every domain's jobs, on two queues.

Interactive work (answers) and bulk work (ingestion, re-embedding) have separate queues, each
with its own worker loop and concurrency, so a big import never delays a visitor's answer.

Operations:
- every job runs with a log/Sentry context (job id, function, workspace when the first argument
  is one) and is measured (parley_jobs_total, parley_job_duration_seconds...);
- the process serves its own /metrics on METRICS_WORKER_PORT and samples the queue depth;
- the outbox relay delivers jobs that their request could not hand to Redis (app/outbox/);
  a worker loop that loses Redis resumes by itself when Redis is back;
- SIGTERM/SIGINT: the workers stop taking jobs at once, running jobs get
  WORKER_SHUTDOWN_TIMEOUT_S to finish, and whatever is still running then is cancelled and
  handed back to its queue (arq re-queues a cancelled job; it runs again elsewhere, which jobs
  are written to tolerate), so nothing is lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import signal
import time
import uuid
from typing import Any

from app.config import Settings
from app.jobs import QUEUE_BULK, QUEUE_CRON, QUEUE_INTERACTIVE
from app.logging import configure_logging
from app.observability import context as request_context
from app.observability import metrics
from app.observability.sentry import init_sentry, tag_scope
from app.outbox import relay as outbox_relay
from app.queue import redis_settings
from app.state import AppState

log = logging.getLogger(__name__)


def functions() -> list[Any]:
    """Every domain's job functions."""
    from app.assistant import tasks as assistant_tasks
    from app.knowledge import tasks as knowledge_tasks
    from billing import tasks as billing_tasks
    from tenancy import tasks as tenancy_tasks

    return [
        *tenancy_tasks.FUNCTIONS,
        *billing_tasks.FUNCTIONS,
        *knowledge_tasks.FUNCTIONS,
        *assistant_tasks.FUNCTIONS,
    ]


def cron_jobs() -> list[Any]:
    """Every domain's periodic jobs."""
    from app.assistant import tasks as assistant_tasks
    from app.knowledge import tasks as knowledge_tasks
    from billing import tasks as billing_tasks
    from tenancy import tasks as tenancy_tasks

    return [
        *tenancy_tasks.CRON_JOBS,
        *billing_tasks.CRON_JOBS,
        *knowledge_tasks.CRON_JOBS,
        *assistant_tasks.CRON_JOBS,
    ]


def _workspace_of(args: tuple[Any, ...]) -> str | None:
    """Jobs take the workspace id first, by convention; anything else is not assumed to be."""
    if args and isinstance(args[0], str):
        try:
            return str(uuid.UUID(args[0]))
        except ValueError:
            return None
    return None


def instrumented(name: str, coroutine: Any) -> Any:
    """`coroutine` run with its job's context bound and its outcome measured."""
    from arq.worker import Retry

    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        job_id = str(ctx.get("job_id") or "")
        context = request_context.RequestContext(
            request_id=job_id or None,
            trace_id=request_context.new_trace_id(),
            workspace_id=_workspace_of(args),
            job_id=job_id or None,
            job_function=name,
        )
        with request_context.bound(context):
            tag_scope(context)
            metrics.job_started(name)
            started, outcome = time.perf_counter(), "failure"
            try:
                result = await coroutine(ctx, *args, **kwargs)
                outcome = "success"
                return result
            except Retry:
                outcome = "retry"
                raise
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            finally:
                metrics.job_finished(name, outcome, time.perf_counter() - started)

    return run


def _function(job: Any) -> Any:
    from arq.worker import func

    wrapped = func(job)
    return dataclasses.replace(wrapped, coroutine=instrumented(wrapped.name, wrapped.coroutine))


def _cron(job: Any) -> Any:
    return dataclasses.replace(job, coroutine=instrumented(job.name, job.coroutine))


QUEUES = {"interactive": QUEUE_INTERACTIVE, "bulk": QUEUE_BULK}


def build_workers(
    settings: Settings,
    state: AppState,
    *,
    burst: bool = False,
    queues: tuple[str, ...] = (QUEUE_INTERACTIVE, QUEUE_BULK),
) -> list[Any]:
    """One arq Worker per queue, sharing the process's AppState. Production may run the
    queues in separate processes (`parley worker --queue interactive`), so bulk CPU work
    (local embeddings) never competes with answers inside one process."""
    # Through arq.worker.create_worker (looked up now, not imported earlier): Sentry's arq
    # integration hooks it to capture job errors.
    import arq.worker

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["state"] = state

    knobs = settings.worker
    workers = []
    # (queue, its functions, max jobs, poll delay, job timeout, cron jobs). Both job queues
    # know every function, so no job can land where its function is unknown. arq takes a dead
    # worker's job again only after the longest timeout among its worker's functions (+10 s):
    # the interactive queue's timeout is short, so a crashed worker's answer (or payment) is
    # retried within WORKER_INTERACTIVE_JOB_TIMEOUT_S + 10 s, and the periodic jobs, whose
    # timeouts are long, get a queue of their own, served wherever the interactive one is.
    loops: tuple[tuple[str, list[Any], int, float, int, list[Any]], ...] = (
        (
            QUEUE_INTERACTIVE,
            functions(),
            knobs.interactive_max_jobs,
            knobs.interactive_poll_delay_s,
            knobs.interactive_job_timeout_s,
            [],
        ),
        (
            QUEUE_BULK,
            functions(),
            knobs.bulk_max_jobs,
            knobs.bulk_poll_delay_s,
            knobs.job_timeout_s,
            [],
        ),
        (QUEUE_CRON, [], 4, knobs.bulk_poll_delay_s, knobs.job_timeout_s, cron_jobs()),
    )
    serve = set(queues) | ({QUEUE_CRON} if QUEUE_INTERACTIVE in queues else set())
    for queue, jobs, max_jobs, poll_delay, timeout, crons in loops:
        if queue not in serve:
            continue
        # cron_jobs only when there are some: Sentry's hook iterates the argument if present.
        extra: dict[str, Any] = {"cron_jobs": [_cron(c) for c in crons]} if crons else {}
        workers.append(
            arq.worker.create_worker(
                {},
                functions=[_function(f) for f in jobs],
                queue_name=queue,
                redis_settings=redis_settings(settings),
                on_startup=on_startup,
                handle_signals=False,
                max_jobs=max_jobs,
                poll_delay=poll_delay,
                job_timeout=timeout,
                max_tries=knobs.max_tries,
                burst=burst,
                keep_result=3600,
                **extra,
            )
        )
    return workers


async def sample_queue_depth(state: AppState, interval_s: float) -> None:
    """Keep parley_queue_depth current (autoscalers read it) until cancelled."""
    while True:
        try:
            for queue in (QUEUE_INTERACTIVE, QUEUE_BULK):
                metrics.queue_depth(queue, int(await state.redis.zcard(queue)))
        except Exception as exc:
            log.warning("queue depth unavailable: %s", type(exc).__name__)
        await asyncio.sleep(interval_s)


def start_metrics_server(settings: Settings) -> Any:
    """Serve this process's metrics over HTTP; None when off or the port is taken."""
    port = settings.metrics.worker_port
    if not port:
        return None
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=settings.metrics.worker_host)
    except OSError as exc:
        log.warning("worker metrics not served on port %d: %s", port, exc)
        return None
    log.info("worker metrics on http://%s:%d/metrics", settings.metrics.worker_host, port)
    return server


# Seconds between attempts to resume a worker loop that lost Redis.
REDIS_RETRY_S = 1.0


async def supervised(worker: Any, *, burst: bool) -> None:
    """Run one arq worker loop, resuming it when Redis goes away: arq's loop ends at the first
    Redis error, and a worker that exits on a Redis outage would need a restart to pick up the
    jobs the outbox relay delivers after it. Running jobs are not touched; a job whose result
    could not be written runs again later (jobs are idempotent)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    resumed = False
    while True:
        started = time.monotonic()
        try:
            await worker.async_run()
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            if burst:
                raise
            # Warn once per outage: a resumed loop that fails again at once is the same one.
            if not resumed or time.monotonic() - started > 2 * REDIS_RETRY_S:
                log.warning("worker lost Redis (%s); resuming when it is back", type(exc).__name__)
        resumed = True
        await asyncio.sleep(REDIS_RETRY_S)


async def wake_on_enqueue(state: AppState, worker: Any) -> None:
    """Look at `worker`'s queue as soon as a request says a job is waiting there
    (JobBuffer.deliver publishes on the queue's wake channel), instead of at arq's next poll;
    the poll stays as the fallback for wake-ups that are lost. Two looks at once are safe:
    arq starts a job only after claiming it with WATCH/MULTI, as with several workers."""
    from app.outbox.delivery import wake_channel

    while True:
        try:
            pubsub = state.redis.pubsub()
            await pubsub.subscribe(wake_channel(worker.queue_name))
            try:
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    # Until arq's loop has its pool and has run on_startup, leave it to the poll.
                    ready = worker._pool is not None and "state" in worker.ctx
                    if message is not None and ready and worker.allow_pick_jobs:
                        await worker._poll_iteration()
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("queue wake-ups unavailable (%s); polling only", type(exc).__name__)
            await asyncio.sleep(REDIS_RETRY_S)


def _running(workers: list[Any]) -> int:
    return sum(1 for w in workers for t in w.tasks.values() if not t.done())


async def drain(workers: list[Any], deadline_s: float) -> int:
    """Stop taking jobs and wait up to `deadline_s` for running ones; returns how many are
    still running (they are cancelled and handed back by `close`)."""
    for worker in workers:
        worker.allow_pick_jobs = False
    log.info("shutting down: %d job(s) running, %.0fs to finish", _running(workers), deadline_s)
    running = [t for w in workers for t in w.tasks.values() if not t.done()]
    if running:
        await asyncio.wait(running, timeout=deadline_s)
    left = _running(workers)
    if left:
        log.warning("%d job(s) did not finish in time; handing them back to the queue", left)
    return left


async def run(
    settings: Settings,
    *,
    burst: bool = False,
    queues: tuple[str, ...] = (QUEUE_INTERACTIVE, QUEUE_BULK),
) -> None:
    """Run the workers until SIGTERM/SIGINT (or, with burst, until the queues are empty)."""
    configure_logging(settings)
    init_sentry(settings, "worker")
    metrics.configure(settings.metrics.max_operation_labels)
    state = await AppState.create(settings)
    metrics_server = start_metrics_server(settings)
    workers = build_workers(settings, state, burst=burst, queues=queues)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(supervised(w, burst=burst)) for w in workers]
    wakers = [
        asyncio.create_task(wake_on_enqueue(state, w))
        for w in workers
        if w.queue_name == QUEUE_INTERACTIVE and not burst
    ]
    sampler = asyncio.create_task(
        sample_queue_depth(state, settings.worker.queue_sample_interval_s)
    )
    relay = asyncio.create_task(
        outbox_relay.run(state, state.queue, settings.outbox.relay_interval_s)
    )
    stopper = asyncio.create_task(stop.wait())
    # Until a signal, or until one worker stops (all of them, in burst mode).
    finished = asyncio.ensure_future(
        asyncio.wait(tasks, return_when=asyncio.ALL_COMPLETED if burst else asyncio.FIRST_COMPLETED)
    )
    await asyncio.wait([finished, stopper], return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set():
        await drain(workers, settings.worker.shutdown_timeout_s)
    for worker in workers:
        await worker.close()
    for task in (stopper, sampler, relay, finished, *wakers, *tasks):
        task.cancel()
    await asyncio.gather(stopper, sampler, relay, finished, *wakers, *tasks, return_exceptions=True)
    await state.close()
    if metrics_server is not None:
        metrics_server.shutdown()
    log.info("worker stopped")
