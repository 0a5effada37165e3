"""`parley dev` (what `make run` calls): embedded services, migrations, API and worker.

Uses DATABASE_URL / REDIS_URL when they are set; otherwise starts PostgreSQL under
`.data/postgres` (kept between runs) and uses the Redis at REDIS_URL's default address when one
answers there, or starts an embedded one. Ctrl-C stops every child process it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from app.config import Settings, get_settings
from app.devstack.demo import DEMO_EMAIL, DEMO_PASSWORD
from app.devstack.postgres import LocalPostgres
from app.devstack.redis import LocalRedis, reachable

DATABASE = "parley"


def _echo(message: str) -> None:
    print(f"parley dev: {message}", flush=True)


def _wait_ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=1) as response,  # noqa: S310 - local URL
        ):
            if response.status == 200:
                return True
        time.sleep(0.1)
    return False


def prepare_services(settings: Settings, data_dir: Path) -> tuple[dict[str, str], list[object]]:
    """Start what is not configured; returns environment overrides and things to stop."""
    env: dict[str, str] = {}
    started: list[object] = []
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
        env["DATABASE_ADMIN_URL"] = os.environ.get("DATABASE_ADMIN_URL", os.environ["DATABASE_URL"])
        _echo("using PostgreSQL at DATABASE_URL")
    else:
        pg = LocalPostgres(data_dir / "postgres")
        pg.start()
        started.append(pg)
        env["DATABASE_URL"] = pg.url(settings.database.app_role, DATABASE)
        env["DATABASE_ADMIN_URL"] = pg.url("postgres", DATABASE)
        _echo(f"embedded PostgreSQL 18 + pgvector in {pg.datadir}")
    redis_url = os.environ.get("REDIS_URL", settings.redis.url)
    if reachable(redis_url):
        env["REDIS_URL"] = redis_url
        _echo(f"using Redis at {redis_url}")
    elif os.environ.get("REDIS_URL"):
        raise SystemExit(f"REDIS_URL is set but nothing answers at {redis_url}")
    else:
        redis = LocalRedis(datadir=data_dir / "redis")
        redis.start()
        started.append(redis)
        env["REDIS_URL"] = redis.url
        _echo(f"embedded Redis on {redis.url}")
    return env, started


class _Stop(BaseException):
    """Raised by the signal handler to leave the supervision loop. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way (the demo page's start, for
    one) can swallow a Ctrl-C."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def _start_demo(env: dict[str, str], api_url: str, port: int) -> str | None:
    """Seed the demo workspace and serve the demo page; None (with the reason) on failure."""
    from app.config import Settings
    from app.devstack.demo import start_demo

    saved = dict(os.environ)
    os.environ.update(env)  # the seed talks to the services this launcher started
    try:
        _server, url = start_demo(Settings(), api_url, port)
        return url
    except Exception as exc:
        _echo(f"demo page not started: {exc}")
        return None
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _spawn_children(
    env: dict[str, str], settings: Settings, port: int, api_workers: int, workers: int
) -> list[subprocess.Popen[bytes]]:
    """Start the API process and `workers` worker processes."""
    # Children get their own session, so Ctrl-C reaches only this launcher, which then
    # stops them in order (SIGTERM: graceful) instead of racing them to exit.
    api_cmd = ["api", "--port", str(port), "--workers", str(api_workers)]
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", *api_cmd], env=env, start_new_session=True
        )
    ]
    for index in range(workers):
        # Each worker process serves its metrics on its own port (0 keeps them off).
        base_port = settings.metrics.worker_port
        worker_env = {**env, "METRICS_WORKER_PORT": str(base_port + index if base_port else 0)}
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker"], env=worker_env, start_new_session=True
            )
        )
    return children


def run_dev(
    *,
    api_workers: int = 1,
    workers: int = 1,
    port: int | None = None,
    demo_port: int | None = None,
) -> int:
    """Run everything until Ctrl-C (SIGINT) or SIGTERM; returns the exit code."""
    # Installed explicitly: a shell may start us with SIGINT ignored (e.g. in the background).
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    t0 = time.monotonic()
    settings = get_settings()
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env_overrides, started = prepare_services(settings, data_dir)
    env = {**os.environ, **env_overrides, "PARLEY_DATA_DIR": str(data_dir)}
    env.setdefault("PARLEY_ENV", "development")
    port = port or settings.api.port
    children: list[subprocess.Popen[bytes]] = []
    try:
        _echo("applying migrations")
        subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, check=True)
        # Children get their own session, so Ctrl-C reaches only this launcher, which then
        # stops them in order (SIGTERM: graceful) instead of racing them to exit.
        children.extend(_spawn_children(env, settings, port, api_workers, workers))
        base = f"http://{settings.api.host}:{port}"
        if _wait_ready(f"{base}/ready", timeout=120):
            _echo(f"ready in {time.monotonic() - t0:.1f}s")
        else:
            _echo("the API did not become ready within 120 s; see the logs above")
        _echo(f"GraphiQL  {base}/graphql")
        _echo(f"health    {base}/health   readiness {base}/ready")
        if demo_port:
            demo = _start_demo(env, base, demo_port)
            if demo:
                _echo(
                    f"demo page {demo}   (the widget on another origin; log in to the demo "
                    f"workspace as {DEMO_EMAIL} / {DEMO_PASSWORD})"
                )
        _echo("press Ctrl-C to stop")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        _echo("a child process exited; stopping")
        return 1
    except (KeyboardInterrupt, _Stop):
        _echo("stopping")
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
        for service in reversed(started):
            service.stop()  # type: ignore[attr-defined]
