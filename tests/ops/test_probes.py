"""The probes Kubernetes and the load balancer use."""

from __future__ import annotations

import httpx


async def test_health_and_ready(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health")).json() == {"status": "ok"}
    ready = await http.get("/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["database"]["revision"] == body["checks"]["database"]["head"]
