"""Soak: dashboard, widget and webhook traffic at half the measured maximum, for minutes.

    .venv/bin/python ops/load/soak.py [--minutes 10] [--share 0.5] [--probe-s 40]

Starts its own PostgreSQL 18 and Redis (embedded, in a temporary directory), one API process and
one worker (local embeddings, extractive answers), creates workspaces through the GraphQL API
(documents, a publishable key, widget visitors) and seeds Razorpay top-up orders. Then:

1. probe: a closed loop of 24 clients runs the traffic mix as fast as the stack answers, which
   gives the maximum rate of actions per second on this machine;
2. soak: the same mix offered open-loop at `share` of that maximum for `minutes`. Each action's
   latency counts from when it was due, so a stall is never forgiven.

An action is one of: a dashboard read (Documents, Conversations or Usage as the owner), a
widget question (WidgetAsk, then WidgetMessage polls until the answer is complete), or a signed
`order.paid` webhook (one in ten delivered twice). Everything but HTTP 200 without GraphQL
errors, a FAILED answer or an answer not complete within 20 s is an unexpected error.

Prints, per minute: actions, errors, p50/p99 of every request, and the resident memory of the
API, the worker, PostgreSQL (all backends) and Redis; then the drift from the first minute to
the last, and the webhook ledger's effects (nothing lost, nothing doubled). Exits non-zero when
there were unexpected errors or an event was lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.config import DatabaseSettings  # noqa: E402
from app.db.bootstrap import migrate  # noqa: E402
from app.db.engine import asyncpg_dsn  # noqa: E402
from app.devstack.postgres import LocalPostgres  # noqa: E402
from app.devstack.redis import LocalRedis, free_port  # noqa: E402
from ops.bench import webhooks  # noqa: E402
from ops.bench.rawhttp import Connection  # noqa: E402

OPERATIONS = ROOT / "graphql" / "operations"
ORIGIN = "https://soak.example"
DATABASE = "parley_soak"
QUESTIONS = ["How long do refunds take?", "Do you ship abroad?", "When is the store open?"]
DOCUMENTS = [
    "# Refunds\n\nRefunds reach your card within five business days. Returns are free within "
    "thirty days of delivery.",
    "# Shipping\n\nWe ship to forty countries. International delivery takes seven to twelve "
    "days; the store is open from ten to eight on weekdays.",
]
# Shares of the mix: dashboard reads, widget questions, webhooks.
MIX = (("dashboard", 0.5), ("widget", 0.2), ("webhook", 0.3))
POLL_S = 0.3
ANSWER_LIMIT_S = 20.0
# Budgets far above the offered load: the limiter runs on every request (its cost is part of
# what is measured) but refuses nothing, so every refusal would be an unexpected error.
UNLIMITED = {
    "RATELIMIT_API_PER_WINDOW": "10000000",
    "RATELIMIT_ANSWERS_PER_WINDOW": "10000000",
    "RATELIMIT_VISITOR_PER_WINDOW": "10000000",
    "RATELIMIT_ANONYMOUS_PER_WINDOW": "10000000",
    "RATELIMIT_PRINCIPAL_SHARE": "1.0",
    "RATELIMIT_CONCURRENT_MODEL_CALLS": "1000",
}


def op(name: str) -> bytes:
    """The text of a named operation from graphql/operations/."""
    return next(OPERATIONS.rglob(f"{name}.graphql")).read_bytes()


@dataclass
class Sample:
    """One request: when it was due (seconds since the soak began), how long it took, and
    whether it did what it should."""

    at: float
    kind: str
    seconds: float
    ok: bool


@dataclass
class Traffic:
    """What the actions draw from, and what they recorded."""

    port: int
    workspaces: list[dict[str, str]]
    orders: list[tuple[str, int]]
    pool: asyncio.Queue[Connection] = field(default_factory=asyncio.Queue)
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    delivered: list[str] = field(default_factory=list)
    started: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(11))

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """One request on a pooled keep-alive connection."""
        conn = (
            self.pool.get_nowait() if not self.pool.empty() else Connection("127.0.0.1", self.port)
        )
        try:
            return await self.post_on(conn, path, body, headers)
        finally:
            self.pool.put_nowait(conn)

    @staticmethod
    async def post_on(
        conn: Connection, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request on `conn`; a broken connection is reopened once."""
        try:
            return await conn.post(path, body, headers)
        except (ConnectionError, asyncio.IncompleteReadError):
            await conn.close()
            return await conn.post(path, body, headers)

    async def graphql(
        self, kind: str, path: str, name: str, variables: dict[str, Any], headers: dict[str, str]
    ) -> Any:
        """Send operation `name`, record it, and return its data (None when it failed)."""
        body = json.dumps({"query": op(name).decode(), "variables": variables}).encode()
        due = time.perf_counter()
        status, raw = await self.post(path, body, {"content-type": "application/json", **headers})
        reply = json.loads(raw) if raw else {}
        ok = status == 200 and not reply.get("errors")
        self.record(kind, due, ok, f"{name}: HTTP {status} {str(reply.get('errors'))[:160]}")
        return reply.get("data") if ok else None

    def record(self, kind: str, due: float, ok: bool, error: str) -> None:
        """Keep one request's outcome (latency from `due`)."""
        now = time.perf_counter()
        self.samples.append(Sample(due - self.started, kind, now - due, ok))
        if not ok:
            self.errors[error] += 1

    async def dashboard(self) -> None:
        """The owner opens one of the dashboard's pages."""
        chosen = self.rng.choice(self.workspaces)
        headers = {"authorization": f"Bearer {chosen['token']}", "x-workspace-id": chosen["id"]}
        name, variables = self.rng.choice(
            [("Documents", {"first": 20}), ("Conversations", {"first": 20}), ("Usage", {})]
        )
        await self.graphql("dashboard", "/graphql", name, variables, headers)

    async def widget(self) -> None:
        """A visitor asks, then polls until the answer is complete."""
        chosen = self.rng.choice(self.workspaces)
        path = f"/widget/graphql?key={chosen['key']}"
        headers = {
            "origin": ORIGIN,
            "authorization": f"Bearer {self.rng.choice(chosen['visitors'])}",
        }
        asked = time.perf_counter()
        data = await self.graphql(
            "widget-ask",
            path,
            "WidgetAsk",
            {"input": {"question": self.rng.choice(QUESTIONS)}},
            headers,
        )
        if not data:
            return
        message = data["ask"]["answer"]
        while message["status"] not in ("COMPLETE", "FAILED"):
            if time.perf_counter() - asked > ANSWER_LIMIT_S:
                break
            await asyncio.sleep(POLL_S)
            polled = await self.graphql(
                "widget-poll", path, "WidgetMessage", {"id": message["id"]}, headers
            )
            if not polled or not polled.get("message"):
                return
            message = polled["message"]
        self.record("answer", asked, message["status"] == "COMPLETE", f"answer {message['status']}")

    async def webhook(self) -> None:
        """Razorpay reports a paid order; one delivery in ten is repeated."""
        if not self.orders:
            return
        order, amount = self.orders.pop()
        body = webhooks.order_paid_event(order, amount, int(time.time()))
        event_id = webhooks.razorpay_id("evt")
        signature = hmac.new(webhooks.SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json",
            "x-razorpay-signature": signature,
            "x-razorpay-event-id": event_id,
        }
        for _ in range(2 if self.rng.random() < 0.1 else 1):
            due = time.perf_counter()
            status, _ = await self.post("/webhooks/razorpay", body, headers)
            self.record("webhook", due, status == 200, f"webhook HTTP {status}")
        self.delivered.append(order)

    async def action(self) -> None:
        """One action of the mix, drawn by its share."""
        roll, total = self.rng.random(), 0.0
        for kind, share in MIX:
            total += share
            if roll < total:
                await getattr(self, kind)()
                return


async def closed_loop(traffic: Traffic, clients: int, seconds: float) -> float:
    """Actions per second that `clients` back-to-back clients get through."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await traffic.action()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def open_loop(traffic: Traffic, rate: float, seconds: float) -> None:
    """Start an action every 1/rate seconds whatever the previous ones are doing."""
    running: set[asyncio.Task[None]] = set()
    traffic.started = started = time.perf_counter()
    i = 0
    while (due := started + i / rate) < started + seconds:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(traffic.action())
        running.add(task)
        task.add_done_callback(running.discard)
        i += 1
    await asyncio.gather(*running)


async def memory_sampler(
    pids: dict[str, int], rows: list[dict[str, float]], every_s: float
) -> None:
    """Memory (MiB) of each process and its children, every `every_s` seconds. Proportional
    set size: PostgreSQL's backends share its buffers, which RSS would count once per backend."""
    started = time.perf_counter()
    while True:
        row = {"at": time.perf_counter() - started}
        for name, pid in pids.items():
            with_children = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
            row[name] = sum(p.memory_full_info().pss for p in with_children) / 2**20
        rows.append(row)
        await asyncio.sleep(every_s)


async def setup_workspaces(
    port: int, count: int, visitors: int, admin_dsn: str
) -> list[dict[str, Any]]:
    """Owners, workspaces on the Pro plan, documents, a publishable key and widget visitors."""
    traffic = Traffic(port, [], [])
    traffic.started = time.perf_counter()
    created = []
    for n in range(count):
        email = f"soak-{n}-{random.getrandbits(32):08x}@example.com"
        signed = await traffic.graphql(
            "setup",
            "/graphql",
            "SignUp",
            {"input": {"email": email, "password": "soak test passphrase", "displayName": "S"}},
            {},
        )
        auth = {"authorization": f"Bearer {signed['signUp']['accessToken']}"}
        made = await traffic.graphql(
            "setup", "/graphql", "CreateWorkspace", {"input": {"name": f"Soak {n}"}}, auth
        )
        workspace = made["createWorkspace"]["id"]
        scoped = {**auth, "x-workspace-id": workspace}
        for content in DOCUMENTS:
            await traffic.graphql(
                "setup",
                "/graphql",
                "AddDocument",
                {"input": {"content": content, "format": "MARKDOWN"}},
                scoped,
            )
        key = (
            await traffic.graphql(
                "setup",
                "/graphql",
                "CreatePublishableKey",
                {"input": {"name": "soak", "allowedOrigins": [ORIGIN]}},
                scoped,
            )
        )["createPublishableKey"]["key"]
        tokens = []
        for _ in range(visitors):
            session = await traffic.graphql(
                "setup",
                f"/widget/graphql?key={key}",
                "StartWidgetSession",
                {"input": None},
                {"origin": ORIGIN, "authorization": f"Bearer {key}"},
            )
            tokens.append(session["startWidgetSession"]["visitorToken"])
        created.append(
            {"token": auth["authorization"][7:], "id": workspace, "key": key, "visitors": tokens}
        )
    if traffic.errors:
        raise SystemExit(f"setup failed: {dict(traffic.errors)}")
    await _move_to_pro(admin_dsn)
    return created


async def _move_to_pro(admin_dsn: str) -> None:
    """Put every workspace on the Pro plan, so monthly quotas stay out of a soak's way (an
    operator's shortcut for the benchmark; users change plan through Razorpay)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(
            "UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE code = 'pro' "
            "AND available ORDER BY version DESC LIMIT 1) WHERE is_current"
        )
    finally:
        await conn.close()


async def wait_documents_ready(admin_dsn: str, expected: int, limit_s: float) -> None:
    """Wait until the worker has embedded the setup's documents."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if (
                await conn.fetchval("SELECT count(*) FROM documents WHERE status = 'ready'")
                >= expected
            ):
                return
            await asyncio.sleep(0.5)
        raise SystemExit("the setup's documents did not become ready")
    finally:
        await conn.close()


def minute_table(samples: list[Sample], memory: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Per minute of the soak: requests, errors, latency percentiles and peak memory."""
    rows = []
    for minute in range(int(max(s.at for s in samples) // 60) + 1):
        inside = [s for s in samples if minute * 60 <= s.at < (minute + 1) * 60]
        requests = [s.seconds * 1000 for s in inside if s.kind != "answer"]
        answers = [s.seconds * 1000 for s in inside if s.kind == "answer"]
        mem = [m for m in memory if minute * 60 <= m["at"] < (minute + 1) * 60] or memory[-1:]
        rows.append(
            {
                "minute": minute + 1,
                "requests": len(requests),
                "errors": sum(1 for s in inside if not s.ok),
                "p50": webhooks.percentile(requests, 0.5) if requests else 0.0,
                "p99": webhooks.percentile(requests, 0.99) if requests else 0.0,
                "answer_p99": webhooks.percentile(answers, 0.99) if answers else 0.0,
                **{k: max(m[k] for m in mem) for k in mem[0] if k != "at"},
            }
        )
    return rows


def report(
    rows: list[dict[str, Any]],
    traffic: Traffic,
    effects: dict[str, int],
    rate: float,
    minutes: float,
) -> bool:
    """Print the figures; True when the soak met its promises."""
    names = [
        k for k in rows[0] if k not in ("minute", "requests", "errors", "p50", "p99", "answer_p99")
    ]
    print(f"\nsoak at {rate:.1f} actions/s; latency in ms (requests), memory in MiB (PSS)")
    print("min  requests errors    p50    p99  answer-p99  " + "  ".join(f"{n:>9}" for n in names))
    for r in rows:
        print(
            f"{r['minute']:>3}  {r['requests']:>8} {r['errors']:>6} {r['p50']:>6.1f} "
            f"{r['p99']:>6.1f}  {r['answer_p99']:>10.0f}  "
            + "  ".join(f"{r[n]:>9.1f}" for n in names)
        )
    first, last = rows[0], rows[max(0, min(len(rows), int(minutes)) - 1)]  # last full minute
    print(f"p99 first minute {first['p99']:.1f} ms, last full minute {last['p99']:.1f} ms")
    print(
        "memory first -> last minute: "
        + ", ".join(f"{n} {first[n]:.0f} -> {last[n]:.0f} MiB" for n in names)
    )
    by_kind: dict[str, list[float]] = defaultdict(list)
    for s in traffic.samples:
        by_kind[s.kind].append(s.seconds * 1000)
    for kind, values in sorted(by_kind.items()):
        print(
            f"{kind:<12} n={len(values):>6}  p50 {webhooks.percentile(values, 0.5):7.1f}  "
            f"p99 {webhooks.percentile(values, 0.99):7.1f}  max {max(values):7.1f}"
        )
    print(f"unexpected errors: {sum(traffic.errors.values())} {dict(traffic.errors)}")
    print(f"webhook effects: {effects}")
    return not traffic.errors and effects["lost"] == 0 and effects["doubled"] == 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Soak test of the whole stack.")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--share", type=float, default=0.5, help="share of the probed maximum")
    parser.add_argument("--probe-s", type=float, default=40.0, help="length of the probe")
    parser.add_argument("--workspaces", type=int, default=10)
    parser.add_argument("--visitors", type=int, default=5, help="widget visitors per workspace")
    return parser.parse_args()


async def soak(args: argparse.Namespace, port: int, admin_dsn: str, pids: dict[str, int]) -> bool:
    """Set up, probe the maximum, soak at a share of it, and report."""
    workspaces = await setup_workspaces(port, args.workspaces, args.visitors, admin_dsn)
    await wait_documents_ready(admin_dsn, len(workspaces) * len(DOCUMENTS), 300)
    # Enough orders for a webhook on every action at twice the rate a 2-core machine reaches.
    seeded = await webhooks.seed_orders(
        admin_dsn, 10, int(200 * (args.probe_s + args.minutes * 60))
    )
    orders = [(order, amount) for order, _, amount in seeded]
    probe = Traffic(port, workspaces, orders)
    probe.started = time.perf_counter()
    maximum = await closed_loop(probe, 24, args.probe_s)
    print(f"probe: {maximum:.1f} actions/s with 24 clients; errors {dict(probe.errors)}")
    rate = maximum * args.share
    traffic = Traffic(port, workspaces, probe.orders)
    memory: list[dict[str, float]] = []
    sampler = asyncio.create_task(memory_sampler(pids, memory, 10.0))
    await open_loop(traffic, rate, args.minutes * 60)
    sampler.cancel()
    drained = await webhooks.wait_drained(
        admin_dsn, len(probe.delivered) + len(traffic.delivered), 300
    )
    print(f"worker drained the webhook ledger {drained:.1f} s after the soak")
    effects = await webhooks.check_effects(admin_dsn, probe.delivered + traffic.delivered)
    ok = report(minute_table(traffic.samples, memory), traffic, effects, rate, args.minutes)
    return ok and not probe.errors


def main() -> int:
    """Start the stack, run the soak, stop everything."""
    args = _arguments()
    # SIGTERM (a timeout, Ctrl-C from a supervisor) still stops the servers below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="parley-soak-"))
    pg, redis = LocalPostgres(root / "pg"), LocalRedis()
    children: list[subprocess.Popen[bytes]] = []
    try:
        pg.start()
        redis.start()
        db = DatabaseSettings(
            url=pg.url("parley_app", DATABASE), admin_url=pg.url("postgres", DATABASE)
        )
        migrate(db)
        env = {**webhooks.environment(root, db, redis.url), **UNLIMITED}
        port = free_port()
        for command in (["api", "--port", str(port), "--workers", "1"], ["worker"]):
            children.append(
                subprocess.Popen([sys.executable, "-m", "app.cli", *command], env=env, cwd=ROOT)
            )
        webhooks.wait_ready(f"http://127.0.0.1:{port}/health", 120)
        assert redis.process is not None
        pids = {
            "api": children[0].pid,
            "worker": children[1].pid,
            "postgres": int((pg.datadir / "postmaster.pid").read_text().split()[0]),
            "redis": redis.process.pid,
        }
        ok = asyncio.run(soak(args, port, asyncpg_dsn(db.admin_url), pids))
    finally:
        webhooks.stop_stack(children, redis, pg, root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
