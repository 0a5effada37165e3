"""Parley side by side with PostGraphile 5 and a hand-written floor, on the same database.

    make bench                                   # full run (~10 minutes), writes the report
    BENCH_QUICK=1 make bench                     # ~3 minutes: 10 workspaces, c=1 and 16
    .venv/bin/python ops/bench/graphql/run.py --help

Builds a fresh embedded PostgreSQL migrated with the project's migrations, fills it (100
workspaces x 1,000 documents x 10 chunks by default), starts Parley (`python -m app.cli api`,
rate limiting off), PostGraphile 5 (`ops/bench/graphql/postgraphile/server.mjs`) and the floor
(`floor.py`, Litestar + asyncpg) as the application role under the same row-level security,
each one process pinned to the server CPU, then drives each operation at each concurrency
from a separate load-generator process pinned to the other CPU. Systems are interleaved
inside every round so that noise from the machine falls on all of them alike; each figure is
the median of the rounds. Prints a table; `--write` also puts it in docs/BENCHMARKS.md and
draws docs/benchmarks/graphql.png.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dataset  # noqa: E402
import operations  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402

from app.config import AuthSettings  # noqa: E402
from tenancy.security import AccessTokens  # noqa: E402

SYSTEMS = ("parley", "postgraphile", "floor")
SERVER_CLASSES = {
    "parley": servers.Parley,
    "postgraphile": servers.PostGraphile,
    "floor": servers.Floor,
}
REQUESTS_PER_CELL = 3000


def arguments() -> argparse.Namespace:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", default=quick, help="~3 minute run")
    parser.add_argument("--workspaces", type=int)
    parser.add_argument("--documents", type=int, default=1000, help="per workspace")
    parser.add_argument("--concurrency", default=None, help="comma-separated, e.g. 1,8,32")
    parser.add_argument("--duration", type=float, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each cell")
    parser.add_argument("--rounds", type=int, default=3, help="runs per cell (median taken)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--ops", default=",".join(operations.OPS))
    parser.add_argument("--server-cpus", default="0", help="taskset list for the servers")
    parser.add_argument("--client-cpus", default="1", help="taskset list for the load")
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md + chart")
    args = parser.parse_args()
    if args.quick:
        args.workspaces = args.workspaces or 10
        args.concurrency = args.concurrency or "1,16"
        args.duration = args.duration or 1.5
        args.warmup = args.warmup or 0.5
    else:
        args.workspaces = args.workspaces or 100
        args.concurrency = args.concurrency or "1,8,32"
        args.duration = args.duration or 3.5
        args.warmup = args.warmup or 0.75
    return args


def measure(spec: dict[str, Any], client_cpus: str | None) -> dict[str, Any]:
    """One cell: a fresh load-generator process, its JSON result."""
    argv = servers.pinned(client_cpus, [sys.executable, str(HERE / "load.py")])
    done = subprocess.run(
        argv, input=json.dumps(spec), capture_output=True, text=True, check=True, timeout=600
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


Targets = dict[tuple[str, str], list[tuple[Any, Any]]]


def collect_targets(
    data: dataset.Dataset, running: dict[str, servers.Server], token: str
) -> Targets:
    """What each operation is aimed at: cursors (op1) and document ids (op2, op3)."""
    rng = random.Random(7)  # noqa: S311 - a reproducible sample, not a secret
    docs = [(ws, d) for ws, ids in data.documents.items() for d in ids]
    pages = rng.sample(data.workspaces, min(20, len(data.workspaces)))
    targets: Targets = {}
    for name, server in running.items():
        targets[(name, "op1")] = operations.cursors(name, server.port, token, pages, pages=5)
        targets[(name, "op2")] = docs
        targets[(name, "op3")] = docs
    return targets


def spec(
    server: servers.Server,
    requests: list[str],
    concurrency: int,
    warmup_s: float,
    duration_s: float,
) -> dict[str, Any]:
    """What the load generator is told."""
    return {
        "port": server.port,
        "concurrency": concurrency,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "requests": requests,
    }


def warm(
    running: dict[str, servers.Server], ops: list[str], token: str, targets: Targets, cpus: str
) -> None:
    """One unmeasured pass per system and operation (JIT, plan caches, pools); any error
    stops the run, so a broken operation is never measured."""
    for name, server in running.items():
        for op in ops:
            requests = operations.requests_for(
                name, op, server.port, token, targets[(name, op)], 500, seed=1
            )
            first = measure(spec(server, requests, 8, 0, 1.5), cpus)
            if first["errors"]:
                raise RuntimeError(f"{name} {op} fails: {first['first_error']}")


def rounds(
    args: argparse.Namespace,
    running: dict[str, servers.Server],
    ops: list[str],
    levels: list[int],
    token: str,
    targets: Targets,
) -> list[dict[str, Any]]:
    """Every cell, round after round, systems interleaved inside each (op, concurrency)."""
    results: list[dict[str, Any]] = []
    for round_no in range(1, args.rounds + 1):
        print(f"== round {round_no}/{args.rounds} ==", flush=True)
        for op in ops:
            for level in levels:
                for name, server in running.items():
                    requests = operations.requests_for(
                        name,
                        op,
                        server.port,
                        token,
                        targets[(name, op)],
                        REQUESTS_PER_CELL,
                        seed=round_no * 1000 + level,
                    )
                    cell = spec(server, requests, level, args.warmup, args.duration)
                    cpu_before, pg_before = server.cpu_seconds(), server.env.postgres_cpu_seconds()
                    measured = measure(cell, args.client_cpus)
                    # CPU per answer (warm-up included on both sides) of the server and of
                    # PostgreSQL: how much of a request's latency is work, and whose.
                    cpu = server.cpu_seconds() - cpu_before
                    pg_cpu = server.env.postgres_cpu_seconds() - pg_before
                    answered = max(1, measured["answered"])
                    row = {
                        "system": name,
                        "op": op,
                        "concurrency": level,
                        "round": round_no,
                        **measured,
                        "cpu_ms": cpu * 1000 / answered,
                        "pg_cpu_ms": pg_cpu * 1000 / answered,
                    }
                    results.append(row)
                    print(
                        f"  {op} c={level:<3} {name:<13} {row['rps']:8.1f} req/s  "
                        f"p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
                        f"CPU {row['cpu_ms']:5.2f} + PG {row['pg_cpu_ms']:5.2f} ms/req  "
                        f"errors {row['errors']}",
                        flush=True,
                    )
                    if row["first_error"]:
                        print(f"    first error: {row['first_error'][:200]}", flush=True)
    return results


def publish(
    args: argparse.Namespace,
    env: servers.Env,
    results: list[dict[str, Any]],
    systems: list[str],
    ops: list[str],
    levels: list[int],
    elapsed_s: float,
) -> None:
    """Print the table; keep the raw results; with --write, update the doc and the chart."""
    command = "BENCH_QUICK=1 make bench" if args.quick else "make bench"
    summary = report.summarise(results)
    context = report.context(env, args, command, elapsed_s)
    table = report.markdown(summary, context, systems, ops, levels)
    print()
    print(table)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    raw = {"when": stamp, "context": context, "results": results}
    (servers.ROOT / ".data").mkdir(exist_ok=True)
    (servers.ROOT / ".data" / "bench-graphql.json").write_text(json.dumps(raw, indent=1))
    if args.write:
        out = servers.ROOT / "docs" / "benchmarks"
        out.mkdir(parents=True, exist_ok=True)
        report.write_doc(servers.ROOT / "docs" / "BENCHMARKS.md", table)
        report.chart(summary, systems, ops, levels, out / "graphql.png", stamp)
        print(f"wrote docs/BENCHMARKS.md and {out / 'graphql.png'}", flush=True)


def main() -> None:
    """Build, start, drive, report, clean up."""
    args = arguments()
    systems = [s for s in args.systems.split(",") if s]
    ops = [o for o in args.ops.split(",") if o]
    levels = [int(c) for c in args.concurrency.split(",")]
    started = time.monotonic()
    env = servers.Env()
    running: dict[str, servers.Server] = {}
    try:
        print(f"== PostgreSQL in {env.root} ==", flush=True)
        env.start()
        data = asyncio.run(dataset.build(env.admin_url, args.workspaces, args.documents))
        tokens = AccessTokens(AuthSettings(access_token_ttl_s=86_400), servers.JWT_SECRET)  # type: ignore[call-arg]
        token, _ = tokens.issue(data.user_id, data.session_id)
        for name in systems:
            server = SERVER_CLASSES[name](env, args.server_cpus)
            server.start()
            running[name] = server
            print(f"  {name} on port {server.port}", flush=True)
        workspace = data.workspaces[0]
        operations.check_agreement(
            {n: s.port for n, s in running.items()}, token, workspace, data.documents[workspace][0]
        )
        targets = collect_targets(data, running, token)
        warm(running, ops, token, targets, args.client_cpus)
        results = rounds(args, running, ops, levels, token, targets)
        publish(args, env, results, systems, ops, levels, time.monotonic() - started)
    except BaseException:
        for server in running.values():
            if server.log.exists():
                print(f"--- {server.name} log (tail) ---\n{server.log.read_text()[-3000:]}")
        raise
    finally:
        for server in running.values():
            server.stop()
        env.stop()


if __name__ == "__main__":
    main()
