"""Operator actions behind the `parley` operations verbs: queue status, usage export,
security events, health check.

Queue status reads Redis directly (arq's own keys); the usage export visits every workspace
through the maintenance role's id list and reads each one under its own tenant, like the
retention job; security events are read over the admin connection, the only one allowed to.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import asyncpg

from app.config import Settings
from app.db.engine import asyncpg_dsn
from app.jobs import QUEUE_BULK, QUEUE_INTERACTIVE

IN_PROGRESS_PREFIX = "arq:in-progress:"
HEALTH_SUFFIX = ":health-check"


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """One arq queue as an operator sees it."""

    name: str
    waiting: int  # due now
    deferred: int  # scheduled for later (retries, delays)
    oldest_wait_s: float | None  # how long the oldest due job has waited
    workers_health: str | None  # the last heartbeat line a worker of this queue wrote


@dataclass(frozen=True, slots=True)
class QueuesReport:
    """Every queue, plus jobs running anywhere."""

    queues: list[QueueStatus]
    running: int


async def queue_status(redis: Any) -> QueuesReport:
    """Counts from arq's keys: each queue is a sorted set scored by due time (ms)."""
    now_ms = time.time() * 1000
    queues = []
    for name in (QUEUE_INTERACTIVE, QUEUE_BULK):
        total = int(await redis.zcard(name))
        due = int(await redis.zcount(name, "-inf", now_ms))
        oldest = await redis.zrange(name, 0, 0, withscores=True)
        oldest_wait = (now_ms - oldest[0][1]) / 1000 if oldest and oldest[0][1] <= now_ms else None
        health = await redis.get(name + HEALTH_SUFFIX)
        queues.append(
            QueueStatus(
                name=name,
                waiting=due,
                deferred=total - due,
                oldest_wait_s=oldest_wait,
                workers_health=health.decode() if isinstance(health, bytes) else health,
            )
        )
    running = 0
    async for _ in redis.scan_iter(match=IN_PROGRESS_PREFIX + "*", count=1000):
        running += 1
    return QueuesReport(queues=queues, running=running)


USAGE_COLUMNS = ("workspace_id", "period_start", "metric", "value")


async def export_usage(
    settings: Settings,
    out: IO[str],
    *,
    month: dt.date,
    workspace_ids: list[uuid.UUID] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write one CSV row per workspace and metric for `month` (running totals such as stored
    bytes are reported as of now); returns the number of workspaces exported.
    `on_progress(done, total)` is called after each workspace."""
    from app.admin import system_principal
    from app.db.maintenance import all_workspace_ids
    from app.db.tenant import tenant_transaction
    from app.state import AppState
    from billing.usage import service as usage

    state = await AppState.create(settings, with_queue=False)
    try:
        if workspace_ids is None:
            role = settings.database.maintenance_role
            workspace_ids = [ws async for ws in all_workspace_ids(state.sessions, role)]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(USAGE_COLUMNS)
        moment = dt.datetime(month.year, month.month, 1, 12, tzinfo=dt.UTC)
        for done, workspace_id in enumerate(workspace_ids, start=1):
            async with tenant_transaction(state.sessions, workspace_id) as session:
                snapshot = await usage.snapshot(session, system_principal(workspace_id), moment)
            for metric, value in sorted(snapshot.values.items()):
                writer.writerow([workspace_id, snapshot.period_start, metric.value, value])
            if on_progress is not None:
                on_progress(done, len(workspace_ids))
        return len(workspace_ids)
    finally:
        await state.close()


async def security_events(
    settings: Settings, *, since: dt.datetime, kind: str | None, limit: int
) -> list[dict[str, Any]]:
    """Recent security events, newest first (admin connection: the application role cannot
    read them)."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.database.admin_url))
    try:
        rows = await conn.fetch(
            "SELECT occurred_at, kind, user_id, key_id, target_workspace_id, host(ip) AS ip, "
            "request_id FROM security_events WHERE occurred_at >= $1 "
            "AND ($2::text IS NULL OR kind = $2) ORDER BY occurred_at DESC LIMIT $3",
            since,
            kind,
            limit,
        )
    finally:
        await conn.close()
    return [dict(row) for row in rows]
