"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from sqlalchemy import text

from app.db.bootstrap import head_revision

_HEAD = head_revision()


@get("/health", include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is up and serving (for liveness probes; checks nothing else)."""
    return {"status": "ok"}


async def _check_database(request: Request[Any, Any, Any]) -> dict[str, Any]:
    state = request.app.state.parley
    async with state.engine.connect() as conn:
        revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    return {"ok": revision == _HEAD, "revision": revision, "head": _HEAD}


async def _check_redis(request: Request[Any, Any, Any]) -> dict[str, Any]:
    await request.app.state.parley.redis.ping()
    return {"ok": True}


@get("/ready", include_in_schema=False)
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready to take traffic: PostgreSQL reachable with migrations at head, Redis reachable.
    Answers 503 otherwise, so a load balancer stops sending requests here."""
    checks: dict[str, Any] = {}
    for name, check in (("database", _check_database), ("redis", _check_redis)):
        try:
            checks[name] = await asyncio.wait_for(check(request), timeout=2.0)
        except Exception as exc:
            checks[name] = {"ok": False, "error": type(exc).__name__}
    ok = all(c.get("ok") for c in checks.values())
    return Response(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )
