"""Real `parley` processes (API server, worker) for tests that need signals and separate
processes: they run the installed entry point's code with the test session's database and
Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.services import TestServices

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "test-secret-" + "x" * 40


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parley_env(services: TestServices, **extra: str) -> dict[str, str]:
    """Environment for a parley process pointed at the test services."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "SENTRY_", "METRICS_", "PROMETHEUS_"))
    }
    env.update(
        {
            "PARLEY_ENV": "test",
            "PARLEY_DATA_DIR": str(services.root / "data"),
            "PARLEY_LOG_JSON": "true",
            "DATABASE_URL": services.app_url,
            "DATABASE_ADMIN_URL": services.admin_url,
            "DATABASE_POOL_SIZE": "3",
            "DATABASE_MAX_OVERFLOW": "2",
            "REDIS_URL": services.redis_url,
            "AUTH_JWT_SECRET": JWT_SECRET,
            "AUTH_ARGON2_TIME_COST": "1",
            "AUTH_ARGON2_MEMORY_KIB": "8",
            "AUTH_ARGON2_PARALLELISM": "1",
            "METRICS_WORKER_PORT": "0",
        }
    )
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `python -m app.cli <args>`, output to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_http(
    url: str, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `url` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return int(process.returncode)
