"""Liveness and readiness probes."""

from __future__ import annotations

import httpx

from app.config import RedisSettings, Settings
from app.server import create_app
from app.state import AppState


async def test_health_and_ready(http: httpx.AsyncClient) -> None:
    health = await http.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = await http.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["revision"] == body["checks"]["database"]["head"]
    assert body["checks"]["redis"]["ok"] is True


async def test_not_ready_without_redis(settings: Settings) -> None:
    broken = settings.model_copy(update={"redis": RedisSettings(url="redis://127.0.0.1:1/0")})
    state = await AppState.create(broken, with_queue=False)
    try:
        transport = httpx.ASGITransport(app=create_app(broken, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/ready")
            assert (await client.get("/health")).status_code == 200
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"]["ok"] is False
        assert ready.json()["checks"]["database"]["ok"] is True
    finally:
        await state.close()
