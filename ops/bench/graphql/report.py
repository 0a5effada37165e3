"""Medians, the Markdown table for docs/BENCHMARKS.md and the chart."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import operations
import servers

START = "<!-- graphql-bench:start -->"
END = "<!-- graphql-bench:end -->"
LABELS = {"parley": "Parley", "postgraphile": "PostGraphile", "floor": "floor"}
OP_TITLES = {
    "op1": "op1: 20 newest documents after a cursor",
    "op2": "op2: a document by id with 10 chunks",
    "op3": "op3: rename a document",
}

Key = tuple[str, str, int]


def summarise(results: list[dict[str, Any]]) -> dict[Key, dict[str, float]]:
    """Median of the rounds for each (system, op, concurrency); errors are summed."""
    cells: dict[Key, list[dict[str, Any]]] = {}
    for row in results:
        cells.setdefault((row["system"], row["op"], row["concurrency"]), []).append(row)
    return {
        key: {
            "rps": statistics.median(r["rps"] for r in rows),
            "p50_ms": statistics.median(r["p50_ms"] for r in rows),
            "p99_ms": statistics.median(r["p99_ms"] for r in rows),
            "cpu_ms": statistics.median(r.get("cpu_ms", 0.0) for r in rows),
            "pg_cpu_ms": statistics.median(r.get("pg_cpu_ms", 0.0) for r in rows),
            "errors": sum(r["errors"] for r in rows),
            "rounds": len(rows),
            # (max - min) / median of the rounds' req/s: how much one round can mislead.
            "spread": (max(r["rps"] for r in rows) - min(r["rps"] for r in rows))
            / (statistics.median(r["rps"] for r in rows) or 1.0),
        }
        for key, rows in cells.items()
    }


def _out(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _ram_gb() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return f"{int(line.split()[1]) / 1024 / 1024:.0f} GB"
    return "?"


def context(env: servers.Env, args: Any, command: str, elapsed_s: float) -> dict[str, Any]:
    """The machine, the versions and the settings of this run."""
    pg_version = env.pg.psql("SHOW server_version", "parley_bench").strip()
    package = servers.POSTGRAPHILE_DIR / "node_modules" / "postgraphile" / "package.json"
    postgraphile = json.loads(package.read_text())["version"] if package.exists() else "?"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram": _ram_gb(),
        "python": platform.python_version(),
        "postgres": pg_version,
        "node": _out(["node", "--version"]).lstrip("v"),
        "postgraphile": postgraphile,
        "strawberry": version("strawberry-graphql"),
        "litestar": version("litestar"),
        "workspaces": args.workspaces,
        "documents": args.documents,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "server_cpus": args.server_cpus,
        "client_cpus": args.client_cpus,
        "elapsed_min": round(elapsed_s / 60, 1),
        "load_average": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def markdown(
    summary: dict[Key, dict[str, float]],
    ctx: dict[str, Any],
    systems: list[str],
    ops: list[str],
    levels: list[int],
) -> str:
    """The results table with ratios, and the run's context."""
    lines = [
        f"Run {ctx['date']} with `{ctx['command']}` ({ctx['elapsed_min']} minutes): "
        f"{ctx['workspaces']} workspaces x {ctx['documents']:,} documents x "
        f"{dataset_chunks()} chunks; each cell {ctx['warmup_s']} s warm-up + "
        f"{ctx['duration_s']} s measured, median of {ctx['rounds']} rounds.",
        "",
        f"Machine: {ctx['cpus']} CPUs ({ctx['cpu_model']}), {ctx['ram']} RAM; servers on CPU "
        f"{ctx['server_cpus']}, load generator on CPU {ctx['client_cpus']}; PostgreSQL on "
        "both. Versions: Python "
        f"{ctx['python']}, PostgreSQL {ctx['postgres']}, Node {ctx['node']}, PostGraphile "
        f"{ctx['postgraphile']}, Strawberry {ctx['strawberry']}, Litestar {ctx['litestar']}. "
        f"Load average at the end (1 / 5 / 15 min): {ctx['load_average']}.",
        "",
        "Ratios compare Parley with the others: req/s ratios above 1 and p99 ratios below 1 "
        "favour Parley.",
        "",
        "CPU columns: user + system time per answer (from /proc, warm-up included) of the "
        "server process and of PostgreSQL's processes; the two can overlap in time.",
        "",
        "| op | conc. | system | req/s | p50 ms | p99 ms | server CPU ms | PG CPU ms | errors "
        "| req/s vs PostGraphile | req/s vs floor | p99 vs PostGraphile | p99 vs floor |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for op in ops:
        for level in levels:
            pg_cell = summary.get(("postgraphile", op, level), {})
            floor_cell = summary.get(("floor", op, level), {})
            pg, floor = pg_cell.get("rps", 0.0), floor_cell.get("rps", 0.0)
            for name in systems:
                cell = summary.get((name, op, level))
                if cell is None:
                    continue
                vs_pg = _ratio(cell["rps"], pg) if name == "parley" else ""
                vs_floor = _ratio(cell["rps"], floor) if name != "floor" else ""
                p99_pg = p99_floor = ""
                if name == "parley":
                    p99_pg = _ratio(cell["p99_ms"], pg_cell.get("p99_ms", 0.0))
                    p99_floor = _ratio(cell["p99_ms"], floor_cell.get("p99_ms", 0.0))
                lines.append(
                    f"| {op} | {level} | {LABELS[name]} | {cell['rps']:,.0f} | "
                    f"{cell['p50_ms']:.2f} | {cell['p99_ms']:.2f} | {cell['cpu_ms']:.2f} | "
                    f"{cell['pg_cpu_ms']:.2f} | "
                    f"{int(cell['errors'])} | "
                    f"{vs_pg} | {vs_floor} | {p99_pg} | {p99_floor} |"
                )
    spreads = sorted(cell["spread"] for cell in summary.values())
    if spreads:
        lines += [
            "",
            "Spread of req/s between the rounds of a cell ((max - min) / median): median "
            f"{statistics.median(spreads):.0%}, largest {spreads[-1]:.0%}.",
        ]
    gaps = [f"- {op}: {operations.GAPS[op]}" for op in ops if op in operations.GAPS]
    if gaps:
        lines += ["", "Where Parley's schema differs from the operation as specified:", "", *gaps]
    return "\n".join(lines)


def dataset_chunks() -> int:
    """Chunks per document in the dataset."""
    import dataset

    return dataset.CHUNKS_PER_DOCUMENT


def write_doc(path: Path, table: str) -> None:
    """Replace the generated block between the markers in docs/BENCHMARKS.md."""
    text = path.read_text()
    if START not in text or END not in text:
        raise RuntimeError(f"{path} lacks the {START} / {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def chart(
    summary: dict[Key, dict[str, float]],
    systems: list[str],
    ops: list[str],
    levels: list[int],
    path: Path,
    stamp: str,
) -> None:
    """Throughput (top row) and p99 (bottom row) against concurrency, one column per op."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(ops), figsize=(4.2 * len(ops), 7), squeeze=False)
    for col, op in enumerate(ops):
        for name in systems:
            cells = [summary.get((name, op, level)) for level in levels]
            xs = [lv for lv, c in zip(levels, cells, strict=True) if c]
            axes[0][col].plot(xs, [c["rps"] for c in cells if c], marker="o", label=LABELS[name])
            axes[1][col].plot(xs, [c["p99_ms"] for c in cells if c], marker="o", label=LABELS[name])
        axes[0][col].set_title(OP_TITLES.get(op, op), fontsize=10)
        axes[0][col].set_ylabel("requests/s (median)")
        axes[1][col].set_ylabel("p99 latency, ms (median)")
        for row in (0, 1):
            axes[row][col].set_xscale("log", base=2)
            axes[row][col].set_xticks(levels, [str(lv) for lv in levels])
            axes[row][col].set_xlabel("concurrent clients")
            axes[row][col].grid(alpha=0.3)
            axes[row][col].set_ylim(bottom=0)
    axes[0][0].legend()
    fig.suptitle(f"Parley vs PostGraphile 5 vs hand-written floor, one server CPU ({stamp})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
