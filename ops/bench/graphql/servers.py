"""The database and the three servers under test, each a process pinned to the server CPU."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from app.config import DatabaseSettings  # noqa: E402
from app.db.bootstrap import migrate  # noqa: E402
from app.devstack.postgres import LocalPostgres  # noqa: E402
from app.devstack.redis import LocalRedis, free_port  # noqa: E402
from ops.bench.procstat import cpu_seconds, postgres_processes  # noqa: E402

JWT_SECRET = "bench-secret-" + "x" * 40
JWT_ISSUER = "parley"
POSTGRAPHILE_DIR = Path(__file__).resolve().parent / "postgraphile"
POOL_SIZE = 20  # connections per server, the same for all three


def pinned(cpus: str | None, argv: list[str]) -> list[str]:
    """`argv` under `taskset -c cpus` when a CPU list is given and taskset exists."""
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *argv]
    return argv


@dataclass
class Env:
    """PostgreSQL (durable defaults, a larger cache) and Redis for the run."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="parley-gqlbench-")))

    def __post_init__(self) -> None:
        self.pg = LocalPostgres(
            self.root / "pg",
            conf={"shared_buffers": "1GB", "maintenance_work_mem": "512MB", "work_mem": "16MB"},
        )
        self.redis = LocalRedis()
        self.admin_url = self.pg.url("postgres", "parley_bench")
        self.app_url = self.pg.url("parley_app", "parley_bench")

    def start(self) -> None:
        """Start both and migrate the database with the project's migrations."""
        self.pg.start()
        self.redis.start()
        migrate(DatabaseSettings(url=self.app_url, admin_url=self.admin_url))

    def postgres_cpu_seconds(self) -> float:
        """CPU time PostgreSQL (the postmaster and its backends) has used so far."""
        return cpu_seconds(postgres_processes(self.pg.datadir), reaped=True)

    def stop(self) -> None:
        """Stop both and delete their files."""
        self.redis.stop()
        if self.pg.initialised():
            self.pg.destroy()
        shutil.rmtree(self.root, ignore_errors=True)


class Server:
    """One server process under test."""

    name = ""
    ready_path = "/"

    def __init__(self, env: Env, cpus: str | None) -> None:
        self.env = env
        self.cpus = cpus
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = env.root / f"{self.name}.log"

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        """argv, environment, working directory."""
        raise NotImplementedError

    def start(self, timeout: float = 120) -> None:
        """Start and wait until it answers HTTP."""
        argv, env, cwd = self.command()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                pinned(self.cpus, argv), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise TimeoutError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (all its threads)."""
        return cpu_seconds([self.proc.pid]) if self.proc is not None else 0.0

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class Parley(Server):
    """`python -m app.cli api`, one process, rate limiting off."""

    name = "parley"
    ready_path = "/ready"

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        env = {
            **os.environ,
            "PARLEY_ENV": "production",  # as deployed: no GraphiQL, no introspection
            "PARLEY_DATA_DIR": str(self.env.root / "data"),
            "DATABASE_URL": self.env.app_url,
            "DATABASE_ADMIN_URL": self.env.admin_url,
            "DATABASE_POOL_SIZE": str(POOL_SIZE),
            "DATABASE_MAX_OVERFLOW": "0",
            "REDIS_URL": self.env.redis.url,
            "AUTH_JWT_SECRET": JWT_SECRET,
            "AUTH_JWT_ISSUER": JWT_ISSUER,
            "RATELIMIT_ENABLED": "false",
            "PARLEY_LOG_LEVEL": "WARNING",
        }
        argv = [sys.executable, "-m", "app.cli", "api", "--port", str(self.port), "--workers", "1"]
        return argv, env, ROOT


class PostGraphile(Server):
    """`node server.mjs` (PostGraphile 5, amber preset) as the application role."""

    name = "postgraphile"
    ready_path = "/graphql"

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        env = {
            **os.environ,
            "DATABASE_URL": self.env.app_url,
            "JWT_SECRET": JWT_SECRET,
            "JWT_ISSUER": JWT_ISSUER,
            "PORT": str(self.port),
            "POOL_SIZE": str(POOL_SIZE),
            "NODE_ENV": "production",
        }
        return ["node", "server.mjs"], env, POSTGRAPHILE_DIR


class Floor(Server):
    """The hand-written Litestar + asyncpg endpoints under uvicorn, like Parley."""

    name = "floor"
    ready_path = "/"

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        env = {
            **os.environ,
            "DATABASE_URL": self.env.app_url,
            "JWT_SECRET": JWT_SECRET,
            "JWT_ISSUER": JWT_ISSUER,
            "POOL_SIZE": str(POOL_SIZE),
            "PYTHONPATH": str(Path(__file__).resolve().parent),
        }
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "floor:create_app",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        return argv, env, ROOT
