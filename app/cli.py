"""The `parley` command: run the pieces (dev, api, worker, migrate) and admin verbs."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import click

from app.config import get_settings


@click.group(help="Parley: multi-tenant GraphQL backend for AI knowledge-base chat.")
def main() -> None:
    """Entry point."""


@main.command(help="Everything on embedded defaults: PostgreSQL, Redis, API and a worker.")
@click.option("--api-workers", default=1, show_default=True, help="API processes.")
@click.option("--workers", default=1, show_default=True, help="arq worker processes.")
@click.option("--port", default=None, type=int, help="API port (default API_PORT or 8000).")
@click.option(
    "--demo-port",
    default=8001,
    show_default=True,
    envvar="DEMO_PORT",
    help="Port of the widget demo page (another origin than the API); 0 turns it off.",
)
def dev(api_workers: int, workers: int, port: int | None, demo_port: int) -> None:
    """`make run`."""
    from app.devstack.launcher import run_dev

    sys.exit(
        run_dev(api_workers=api_workers, workers=workers, port=port, demo_port=demo_port or None)
    )


@main.command(help="Serve the HTTP/GraphQL API.")
@click.option("--host", default=None, help="Bind address (default API_HOST).")
@click.option("--port", default=None, type=int, help="Port (default API_PORT).")
@click.option("--workers", default=None, type=int, help="Processes (default API_WORKERS).")
def api(host: str | None, port: int | None, workers: int | None) -> None:
    """Run uvicorn on the app factory.

    On SIGTERM uvicorn stops accepting connections and gives in-flight requests
    API_SHUTDOWN_TIMEOUT_S to finish. With several processes, Prometheus multi-process mode is
    switched on (unless PROMETHEUS_MULTIPROC_DIR is already set) so /metrics adds up every
    process's samples whichever process answers the scrape.
    """
    import uvicorn

    from app.logging import configure_logging

    settings = get_settings()
    configure_logging(settings)
    processes = workers or settings.api.workers
    if processes > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from app.observability.multiprocess import prepare_directory

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prepare_directory(settings.data_dir)
    uvicorn.run(
        "app.server:create_app",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=processes,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through ours (JSON, context, masking)
        access_log=False,  # app/observability/http.py writes the access log with context
        proxy_headers=False,
        timeout_graceful_shutdown=max(1, round(settings.api.shutdown_timeout_s)),
    )


@main.command(help="Run the arq workers (interactive and bulk queues).")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(["interactive", "bulk"]),
    help="Run only these queues (repeatable; default both).",
)
def worker(burst: bool, queues: tuple[str, ...]) -> None:
    """Run jobs."""
    from app import worker as worker_module

    chosen = tuple(worker_module.QUEUES[q] for q in queues) or tuple(worker_module.QUEUES.values())
    asyncio.run(worker_module.run(get_settings(), burst=burst, queues=chosen))


@main.command(help="Create roles and extensions if needed, then migrate to the latest schema.")
def migrate() -> None:
    """Apply migrations."""
    from app.db.bootstrap import migrate as run_migrate

    settings = get_settings()
    if not settings.database.admin_url:
        raise click.UsageError("Set DATABASE_ADMIN_URL (a superuser or the owner role).")
    run_migrate(settings.database)
    click.echo("database is at the latest migration")


@main.group(help="Workspace administration.")
def workspace() -> None:
    """Workspace verbs."""


@workspace.command("create", help="Create a workspace owned by a user (created if missing).")
@click.option("--name", required=True)
@click.option("--owner-email", required=True)
@click.option("--owner-password", default=None, help="Needed when the user does not exist.")
@click.option("--slug", default=None)
def workspace_create(
    name: str, owner_email: str, owner_password: str | None, slug: str | None
) -> None:
    """Create a workspace from the command line."""
    from app.admin import create_workspace

    ws = asyncio.run(
        create_workspace(
            get_settings(),
            name=name,
            owner_email=owner_email,
            owner_password=owner_password,
            slug=slug,
        )
    )
    click.echo(f"created workspace {ws.name} ({ws.slug}) id={ws.id}")


@workspace.command("create-key", help="Create a secret API key for a workspace.")
@click.option("--slug", required=True)
@click.option("--name", default="cli")
@click.option("--role", default="member", type=click.Choice(["admin", "member"]))
def workspace_create_key(slug: str, name: str, role: str) -> None:
    """Print a new secret key (shown once)."""
    from app.admin import create_secret_key

    key = asyncio.run(create_secret_key(get_settings(), slug=slug, name=name, role=role))
    click.echo(key)


def run() -> None:
    """Console entry point: expected errors print one line instead of a traceback."""
    from app.errors import ParleyError

    try:
        main()
    except ParleyError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


@main.command(help="Exit 0 when the URL answers 200 (the container health check).")
@click.option(
    "--url",
    envvar="HEALTHCHECK_URL",
    default="http://127.0.0.1:8000/health",
    show_default=True,
    help="What to probe (HEALTHCHECK_URL); workers point it at their metrics port.",
)
@click.option("--timeout", default=3.0, show_default=True, help="Seconds.")
def healthcheck(url: str, timeout: float) -> None:
    """A probe without curl in the image."""
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise click.UsageError("--url must be an http(s) URL.")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        click.echo(f"unhealthy: {url}: {exc}", err=True)
        sys.exit(1)
    if not ok:
        click.echo(f"unhealthy: {url} answered {response.status}", err=True)
        sys.exit(1)


@main.group(help="Job queues.")
def queue() -> None:
    """Queue verbs."""


@queue.command("status", help="Jobs waiting, deferred and running, and worker heartbeats.")
def queue_status() -> None:
    """Print the state of the arq queues."""
    from redis.asyncio import Redis

    from app.admin_ops import queue_status as read_status

    async def read() -> object:
        redis = Redis.from_url(get_settings().redis.url)
        try:
            return await read_status(redis)
        finally:
            await redis.aclose()

    report = asyncio.run(read())
    click.echo(f"{'queue':<18}{'waiting':>9}{'deferred':>10}{'oldest wait':>13}")
    for q in report.queues:  # type: ignore[attr-defined]
        wait = f"{q.oldest_wait_s:.1f}s" if q.oldest_wait_s is not None else "-"
        click.echo(f"{q.name:<18}{q.waiting:>9}{q.deferred:>10}{wait:>13}")
    click.echo(f"running now: {report.running}")  # type: ignore[attr-defined]
    for q in report.queues:  # type: ignore[attr-defined]
        click.echo(f"{q.name} workers: {q.workers_health or 'no heartbeat (no worker running?)'}")


@main.group(help="Usage reports.")
def usage() -> None:
    """Usage verbs."""


@usage.command("export", help="Usage counters of every workspace (or one) for a month, as CSV.")
@click.option("--month", default=None, help="YYYY-MM (default: the current month).")
@click.option("--slug", default=None, help="Only this workspace.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default="-",
    help="File to write ('-': standard output).",
)
def usage_export(month: str | None, slug: str | None, output: str) -> None:
    """Write the CSV, with a progress bar when writing to a file."""
    import datetime as dt

    from app.admin import workspace_id_by_slug
    from app.admin_ops import export_usage

    settings = get_settings()
    try:
        start = (
            dt.datetime.strptime(month, "%Y-%m").date()
            if month
            else dt.datetime.now(dt.UTC).date().replace(day=1)
        )
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM, e.g. 2026-11", param_hint="--month") from exc
    only = [asyncio.run(workspace_id_by_slug(settings, slug))] if slug else None
    bars: list[Any] = []

    def on_progress(done: int, total: int) -> None:
        if output == "-":  # the CSV is on standard output; stay quiet
            return
        if not bars:
            bars.append(click.progressbar(length=total, label="exporting", file=sys.stderr))
            bars[0].__enter__()
        bars[0].update(1)

    with click.open_file(output, "w") as out:
        try:
            count = asyncio.run(
                export_usage(
                    settings, out, month=start, workspace_ids=only, on_progress=on_progress
                )
            )
        finally:
            for bar in bars:
                bar.__exit__(None, None, None)
    click.echo(f"exported usage of {count} workspace(s) for {start:%Y-%m}", err=True)


@main.command("security-events", help="Recent failed log-ins and refused cross-tenant attempts.")
@click.option("--hours", default=24, show_default=True, type=click.IntRange(1, 24 * 365))
@click.option("--kind", type=click.Choice(["login_failed", "cross_tenant_refused"]), default=None)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
def security_events(hours: int, kind: str | None, limit: int) -> None:
    """Print security events (admin connection)."""
    import datetime as dt

    from app.admin_ops import security_events as read_events

    settings = get_settings()
    if not settings.database.admin_url:
        raise click.UsageError("Set DATABASE_ADMIN_URL: only the admin role reads these.")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    events = asyncio.run(read_events(settings, since=since, kind=kind, limit=limit))
    for e in events:
        who = e["user_id"] or e["key_id"] or "-"
        click.echo(
            f"{e['occurred_at']:%Y-%m-%d %H:%M:%S} {e['kind']:<22} ip={e['ip'] or '-'} "
            f"actor={who} target={e['target_workspace_id'] or '-'} request={e['request_id']}"
        )
    click.echo(f"{len(events)} event(s) in the last {hours} h", err=True)


@main.group(help="Billing administration.")
def billing() -> None:
    """Billing verbs."""


@billing.command(
    "publish-plan",
    help="Publish a new version of a plan; workspaces keep the version they bought. "
    "Example: --code starter --set members=20 --set razorpay_plan_id=plan_Abc123",
)
@click.option("--code", required=True, help="The plan's code: free, starter, pro...")
@click.option("--set", "pairs", multiple=True, help="field=value ('null' for unlimited).")
def billing_publish_plan(code: str, pairs: tuple[str, ...]) -> None:
    """Publish a plan version over the admin connection."""
    from billing.plans.catalogue import parse_changes, publish_version

    settings = get_settings()
    if not settings.database.admin_url:
        raise click.UsageError("Set DATABASE_ADMIN_URL (a superuser or the owner role).")
    plan_id = asyncio.run(publish_version(settings.database, code, **parse_changes(list(pairs))))
    click.echo(f"published a new version of {code}: id={plan_id}")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PARLEY_ENV", "development")
    run()
