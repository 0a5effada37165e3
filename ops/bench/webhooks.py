"""Benchmark: Razorpay webhook intake on one API process, with a worker draining.

    .venv/bin/python ops/bench/webhooks.py [--events 4000] [--concurrency 16] [--duplicates 0.2]

Starts its own PostgreSQL 18 and Redis (embedded, in a temporary directory), migrates, creates
workspaces with top-up orders, then runs a real uvicorn process (`parley api`, one worker
process) and a real arq worker process (`parley worker`). It POSTs signed `order.paid` events
(a share of them delivered again, half of those concurrently with the original) and measures
each request's latency at the client. Once the worker has drained the ledger it checks the
effects: every unique event granted exactly one top-up credit (none lost, none doubled).

Prints the figures; exits non-zero if any event was lost or doubled or any delivery failed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.config import DatabaseSettings  # noqa: E402
from app.db.bootstrap import migrate  # noqa: E402
from app.db.engine import asyncpg_dsn  # noqa: E402
from app.devstack.postgres import LocalPostgres  # noqa: E402
from app.devstack.redis import LocalRedis, free_port  # noqa: E402
from ops.bench.rawhttp import Connection  # noqa: E402

SECRET = "bench-webhook-secret-0123456789"
DATABASE = "parley_bench"


def razorpay_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:14]}"


async def seed_orders(admin_dsn: str, workspaces: int, orders: int) -> list[tuple[str, str, int]]:
    """Workspaces and top-up orders, written over the admin connection (setup only; the
    measured path runs as the application role). Returns (order id, pack id, amount)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        pack = await conn.fetchrow(
            "SELECT id, price_minor, ai_tokens FROM topup_packs WHERE code = 'ai_tokens_1m'"
        )
        free = await conn.fetchval("SELECT id FROM plans WHERE code = 'free' AND available")
        ids = [uuid.uuid4() for _ in range(workspaces)]
        await conn.executemany(
            "INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $3)",
            [(w, f"Bench {i}", f"bench-{i}-{w.hex[:6]}") for i, w in enumerate(ids)],
        )
        await conn.executemany(
            "INSERT INTO subscriptions (workspace_id, id, plan_id, status, is_current) "
            "VALUES ($1, $2, $3, 'active', true)",
            [(w, uuid.uuid4(), free) for w in ids],
        )
        rows = [
            (
                ids[i % workspaces],
                uuid.uuid4(),
                razorpay_id("order"),
                pack["id"],
                pack["price_minor"],
            )
            for i in range(orders)
        ]
        await conn.executemany(
            "INSERT INTO billing_orders (workspace_id, id, razorpay_order_id, pack_id, "
            "amount_minor, currency, ai_tokens, status) "
            "VALUES ($1, $2, $3, $4, $5, 'INR', $6, 'created')",
            [(*row, pack["ai_tokens"]) for row in rows],
        )
        return [(r[2], str(r[3]), int(r[4])) for r in rows]
    finally:
        await conn.close()


def order_paid_event(order_id: str, amount: int, created_at: int) -> bytes:
    payment = {
        "id": razorpay_id("pay"),
        "entity": "payment",
        "amount": amount,
        "currency": "INR",
        "status": "captured",
        "order_id": order_id,
        "invoice_id": None,
        "international": False,
        "method": "upi",
        "amount_refunded": 0,
        "refund_status": None,
        "captured": True,
        "email": "buyer@example.com",
        "contact": "+919999999999",
        "notes": [],
        "fee": amount // 50,
        "tax": 0,
        "error_code": None,
        "error_description": None,
        "created_at": created_at,
    }
    order = {
        "id": order_id,
        "entity": "order",
        "amount": amount,
        "amount_paid": amount,
        "amount_due": 0,
        "currency": "INR",
        "receipt": None,
        "status": "paid",
        "attempts": 1,
        "notes": [],
        "created_at": created_at,
    }
    body = {
        "entity": "event",
        "account_id": "acc_BenchAccount01",
        "event": "order.paid",
        "contains": ["payment", "order"],
        "payload": {"payment": {"entity": payment}, "order": {"entity": order}},
        "created_at": created_at,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def wait_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.read().decode(errors='replace')}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready: {last}")


async def _deliver(
    conn: Connection, body: bytes, event_id: str, latencies: list[float], since: float
) -> int:
    """POST one signed delivery; its latency counts from `since`."""
    headers = {
        "content-type": "application/json",
        "x-razorpay-signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "x-razorpay-event-id": event_id,
    }
    status, _ = await conn.post("/webhooks/razorpay", body, headers)
    latencies.append(time.perf_counter() - since)
    return status


def _batches(deliveries: list[tuple[bytes, str, bool]]) -> list[list[tuple[bytes, str]]]:
    """Group deliveries: one flagged True goes out at the same moment as the next one (the
    same event twice at once, on two connections)."""
    batches: list[list[tuple[bytes, str]]] = []
    i = 0
    while i < len(deliveries):
        body, event_id, paired = deliveries[i]
        if paired and i + 1 < len(deliveries):
            batches.append([(body, event_id), deliveries[i + 1][:2]])
            i += 2
        else:
            batches.append([(body, event_id)])
            i += 1
    return batches


async def _fire_closed(
    port: int, deliveries: list[tuple[bytes, str, bool]], concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    """Saturation: `concurrency` senders, each sending its next batch as soon as the last
    one was answered. Measures the most the server takes; latency is mostly queueing."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[list[tuple[bytes, str]]] = asyncio.Queue()
    for batch in _batches(deliveries):
        queue.put_nowait(batch)

    async def run() -> None:
        conns = [Connection("127.0.0.1", port), Connection("127.0.0.1", port)]
        try:
            while True:
                try:
                    batch = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                codes = await asyncio.gather(
                    *(
                        _deliver(conn, body, event_id, latencies, time.perf_counter())
                        for conn, (body, event_id) in zip(conns, batch, strict=False)
                    )
                )
                for code in codes:
                    statuses[code] = statuses.get(code, 0) + 1
        finally:
            for conn in conns:
                await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(run() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, statuses


async def _fire_open(
    port: int, deliveries: list[tuple[bytes, str, bool]], rate: float
) -> tuple[float, list[float], dict[int, int]]:
    """A steady offered load: batch i is due at start + i / rate whatever happened before,
    and its latency counts from that moment (no coordinated omission: a slow answer delays
    nothing else and is not forgiven)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(Connection("127.0.0.1", port))

    async def send(batch: list[tuple[bytes, str]], due: float) -> None:
        conns = [await pool.get() for _ in batch]
        try:
            codes = await asyncio.gather(
                *(
                    _deliver(conn, body, event_id, latencies, due)
                    for conn, (body, event_id) in zip(conns, batch, strict=True)
                )
            )
        finally:
            for conn in conns:
                pool.put_nowait(conn)
        for code in codes:
            statuses[code] = statuses.get(code, 0) + 1

    tasks = []
    started = time.perf_counter()
    for i, batch in enumerate(_batches(deliveries)):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(batch, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    while not pool.empty():
        await pool.get_nowait().close()
    return elapsed, latencies, statuses


async def wait_drained(admin_dsn: str, unique: int, limit_s: float) -> float:
    conn = await asyncpg.connect(admin_dsn)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < limit_s:
            done = await conn.fetchval(
                "SELECT count(*) FROM razorpay_events WHERE status <> 'received'"
            )
            if done >= unique:
                return time.perf_counter() - started
            await asyncio.sleep(0.1)
        return float("nan")
    finally:
        await conn.close()


async def check_effects(admin_dsn: str, orders: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        ledger = await conn.fetch("SELECT status, count(*) FROM razorpay_events GROUP BY status")
        credits = await conn.fetch(
            "SELECT source_ref, count(*) AS n FROM quota_credits "
            "WHERE source_ref = ANY($1::text[]) GROUP BY source_ref",
            orders,
        )
        paid = await conn.fetchval(
            "SELECT count(*) FROM billing_orders WHERE razorpay_order_id = ANY($1::text[]) "
            "AND status = 'paid'",
            orders,
        )
    finally:
        await conn.close()
    granted = {r["source_ref"]: r["n"] for r in credits}
    return {
        **{f"ledger_{r['status']}": r["count"] for r in ledger},
        "orders_paid": paid,
        "lost": sum(1 for o in orders if o not in granted),
        "doubled": sum(1 for n in granted.values() if n > 1),
    }


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int, *, with_children: bool = False) -> float:
    """CPU seconds a process used (user + system), optionally with its reaped children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _postgres_cpu(postmaster: int) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, its exited backends, and the
    backends alive now."""
    total = _cpu(postmaster, with_children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == postmaster:
                    total += _cpu(int(entry.name))
    return total


def _cpu_snapshot(pids: dict[str, int], postmaster: int) -> dict[str, float]:
    return {
        **{name: _cpu(pid) for name, pid in pids.items()},
        "postgres": _postgres_cpu(postmaster),
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


def _plan(events: list[tuple[bytes, str]], duplicates: float) -> list[tuple[bytes, str, bool]]:
    """The delivery order: every event once, a share again (half racing the original)."""
    rng = random.Random(7)  # noqa: S311 - a reproducible shuffle, not a secret
    deliveries: list[tuple[bytes, str, bool]] = []
    for body, event_id in events:
        deliveries.append((body, event_id, False))
        if rng.random() < duplicates:
            if rng.random() < 0.5:
                deliveries[-1] = (body, event_id, True)
                deliveries.append((body, event_id, False))
            else:
                deliveries.insert(rng.randrange(len(deliveries)), (body, event_id, False))
    return deliveries


def _report(
    deliveries: int,
    unique: int,
    load: str,
    elapsed: float,
    latencies: list[float],
    statuses: dict[int, int],
    drain: float,
    checks: dict[str, int],
) -> bool:
    ms = [x * 1000 for x in latencies]
    print(
        "setup             1 uvicorn process, 1 arq worker process, PostgreSQL 18 with "
        "synchronous_commit on, Redis; client on the same machine"
    )
    print(
        f"deliveries        {deliveries} ({unique} unique events, "
        f"{deliveries - unique} duplicates), {load}"
    )
    print(f"statuses          {dict(sorted(statuses.items()))}")
    print(f"intake throughput {deliveries / elapsed:.0f} deliveries/s over {elapsed:.2f} s")
    print(
        f"latency ms        p50 {statistics.median(ms):.1f}  p95 {percentile(ms, 0.95):.1f}  "
        f"p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}"
    )
    print(f"worker drain      all {unique} events processed {drain:.2f} s after intake ended")
    print(f"effects           {checks}")
    ok = checks["lost"] == 0 and checks["doubled"] == 0 and set(statuses) == {200}
    print("result            " + ("OK: nothing lost, nothing doubled" if ok else "FAILED"))
    return ok


def _cpu_report(
    args: argparse.Namespace, cpu: list[dict[str, float]], unique: int, load_before: float
) -> None:
    """Print the machine's load and the CPU each process spent per unique event."""
    print(
        f"machine           {os.cpu_count()} CPUs shared with other sessions; load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    if args.worker_after:
        # Intake and processing ran apart: the database's time splits between them.
        per = {
            "api (intake)": cpu[1]["api"] - cpu[0]["api"],
            "postgres during intake": cpu[1]["postgres"] - cpu[0]["postgres"],
            "worker (processing)": cpu[2]["worker"],
            "postgres during processing": cpu[2]["postgres"] - cpu[1]["postgres"],
        }
    else:
        per = {
            "api (intake)": cpu[2]["api"] - cpu[0]["api"],
            "worker (processing)": cpu[2]["worker"],
            "postgres (both)": cpu[2]["postgres"] - cpu[0]["postgres"],
        }
    print(
        "cpu ms per event  "
        + "  ".join(f"{name} {seconds * 1000 / unique:.2f}" for name, seconds in per.items())
    )


def environment(root: Path, db: DatabaseSettings, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PARLEY_ENV": "production",
        "PARLEY_LOG_LEVEL": "WARNING",
        "PARLEY_DATA_DIR": str(root / "data"),
        "AUTH_JWT_SECRET": "bench-" + "x" * 40,
        "DATABASE_URL": db.url,
        "DATABASE_ADMIN_URL": db.admin_url,
        "REDIS_URL": redis_url,
        "RAZORPAY_WEBHOOK_SECRETS": json.dumps([SECRET]),
    }


def stop_stack(
    children: list[subprocess.Popen[bytes]], redis: LocalRedis, pg: LocalPostgres, root: Path
) -> None:
    """Stop the `parley` processes (SIGTERM, then SIGKILL after 30 s), Redis and PostgreSQL,
    and delete the run's files."""
    for child in children:
        child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
    redis.stop()
    pg.destroy()
    shutil.rmtree(root, ignore_errors=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Razorpay webhook intake benchmark.")
    parser.add_argument("--events", type=int, default=4000, help="unique events")
    parser.add_argument(
        "--rate",
        type=float,
        default=400.0,
        help="offered deliveries per second (open loop); 0 = saturate with --concurrency",
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="senders when saturating (--rate 0)"
    )
    parser.add_argument("--duplicates", type=float, default=0.2, help="share delivered twice")
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--worker-nice", type=int, default=19, help="worker's nice level")
    parser.add_argument(
        "--worker-after",
        action="store_true",
        help="start the worker only after intake (measures intake alone)",
    )
    return parser.parse_args()


@dataclass
class Measured:
    """What one run measured."""

    elapsed: float
    latencies: list[float]
    statuses: dict[int, int]
    drain: float
    cpu: list[dict[str, float]]
    checks: dict[str, int]


def _measure(
    args: argparse.Namespace,
    root: Path,
    pg: LocalPostgres,
    db: DatabaseSettings,
    redis_url: str,
    children: list[subprocess.Popen[bytes]],
    seeded: list[tuple[str, str, int]],
) -> Measured:
    """Start the API and the worker, deliver the events, wait for the drain, check."""
    admin_dsn = asyncpg_dsn(db.admin_url)
    now = int(time.time())
    events = [
        (order_paid_event(order, amount, now), razorpay_id("evt")) for order, _, amount in seeded
    ]
    deliveries = _plan(events, args.duplicates)
    port = free_port()
    env = environment(root, db, redis_url)
    python = sys.executable
    children.append(
        subprocess.Popen(
            [python, "-m", "app.cli", "api", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=ROOT,
        )
    )
    # The worker drains at a lower CPU priority: on a machine this small it would
    # otherwise take the cores the intake needs (in production it runs elsewhere).
    worker = ["nice", "-n", str(args.worker_nice), python, "-m", "app.cli", "worker"]
    if not args.worker_after:
        children.append(subprocess.Popen(worker, env=env, cwd=ROOT))
    base = f"http://127.0.0.1:{port}"
    # /health, not /ready: /ready reads alembic_version, which the app role may not read
    # on main (reported to the lead).
    wait_ready(base + "/health", 60)

    postmaster = int((pg.datadir / "postmaster.pid").read_text().split()[0])
    pids = {"api": children[0].pid}
    cpu = [_cpu_snapshot(pids, postmaster)]
    if args.rate:
        fired = asyncio.run(_fire_open(port, deliveries, args.rate))
    else:
        fired = asyncio.run(_fire_closed(port, deliveries, args.concurrency))
    elapsed, latencies, statuses = fired
    cpu.append(_cpu_snapshot(pids, postmaster))
    if args.worker_after:
        children.append(subprocess.Popen(worker, env=env, cwd=ROOT))
    pids["worker"] = children[-1].pid if len(children) > 1 else children[0].pid
    drain = asyncio.run(wait_drained(admin_dsn, len(events), limit_s=300))
    cpu.append(_cpu_snapshot(pids, postmaster))
    checks = asyncio.run(check_effects(admin_dsn, [order for order, _, _ in seeded]))
    return Measured(elapsed, latencies, statuses, drain, cpu, checks)


def main() -> int:
    """Run the benchmark and print its figures."""
    args = _arguments()
    load_before = os.getloadavg()[0]

    root = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    pg = LocalPostgres(root / "pg")
    redis = LocalRedis()
    children: list[subprocess.Popen[bytes]] = []
    try:
        pg.start()
        redis.start()
        db = DatabaseSettings(
            url=pg.url("parley_app", DATABASE), admin_url=pg.url("postgres", DATABASE)
        )
        migrate(db)
        seeded = asyncio.run(seed_orders(asyncpg_dsn(db.admin_url), args.workspaces, args.events))
        measured = _measure(args, root, pg, db, redis.url, children, seeded)
    finally:
        stop_stack(children, redis, pg, root)

    _cpu_report(args, measured.cpu, len(seeded), load_before)
    load = (
        f"offered at {args.rate:.0f}/s (open loop)"
        if args.rate
        else f"saturating with {args.concurrency} senders (closed loop)"
    )
    worker = (
        "worker started after intake"
        if args.worker_after
        else f"worker draining meanwhile at nice {args.worker_nice}"
    )
    ok = _report(
        sum(measured.statuses.values()),
        len(seeded),
        f"{load}, {worker}",
        measured.elapsed,
        measured.latencies,
        measured.statuses,
        measured.drain,
        measured.checks,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
