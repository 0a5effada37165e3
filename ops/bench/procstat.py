"""CPU time of processes, read from Linux's /proc, for benchmarks that say where a request's
time went (the server's own work, PostgreSQL's) rather than only how long it took."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def _fields(pid: int) -> list[str] | None:
    # /proc/<pid>/stat after the command name, which may hold spaces or parentheses.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def cpu_seconds(pids: Iterable[int], *, reaped: bool = False) -> float:
    """User + system CPU time these processes (all their threads) have used so far; a
    process that is gone counts nothing. With `reaped`, also what their children that have
    exited used (a postmaster's ended backends): a sum over a process tree then never goes
    down when a child ends."""
    ticks = 0
    for pid in pids:
        fields = _fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            if reaped:
                ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def with_children(pid: int) -> list[int]:
    """`pid` and its direct children (a postmaster's backends and background processes)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _fields(int(stat.parent.name))
        if fields is not None and int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return [pid, *children]


def postgres_processes(datadir: Path) -> list[int]:
    """The postmaster of the cluster in `datadir` and its children."""
    return with_children(int((datadir / "postmaster.pid").read_text().split()[0]))
