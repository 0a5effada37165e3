"""Real API processes (uvicorn, as `parley api` runs them) sharing Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from app.config import Settings
from app.devstack.redis import free_port
from tests.support.factories import Factory

if TYPE_CHECKING:
    from tests.support.services import TestServices

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
AUDIT = ROOT / "tests" / "compliance"
LIMIT = 100


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"API process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not become ready")


@pytest.fixture(scope="module")
def api_processes(services: TestServices, settings: Settings) -> Iterator[list[str]]:
    """Two API processes with a workspace budget of 100 points per hour (so nothing refills
    during the test) and an anonymous budget the audits never reach."""
    env = {
        **os.environ,
        "PARLEY_ENV": "test",
        "PARLEY_DATA_DIR": str(services.root / "data"),
        "PARLEY_LOG_LEVEL": "WARNING",
        "DATABASE_URL": services.app_url,
        "DATABASE_POOL_SIZE": "10",
        "DATABASE_MAX_OVERFLOW": "10",
        # 500 requests queue for 20 connections on a loaded 2-core machine: waiting for a
        # connection is expected here, failing for lack of one is not what this test measures.
        "DATABASE_POOL_TIMEOUT": "60",
        "REDIS_URL": services.redis_url,
        "REDIS_KEY_PREFIX": f"p{uuid.uuid4().hex[:8]}:",
        "AUTH_JWT_SECRET": settings.auth.jwt_secret.get_secret_value(),
        "RATELIMIT_API_PER_WINDOW": str(LIMIT),
        "RATELIMIT_WINDOW_S": "3600",
        "RATELIMIT_PRINCIPAL_SHARE": "1.0",
        "RATELIMIT_ANONYMOUS_PER_WINDOW": "1000000",
        # Exactness is the point here, not outages: on a 2-core test machine two saturated API
        # processes and PostgreSQL starve Redis of CPU for 50-100 ms at a time, which the 40 ms
        # default would (correctly) treat as an outage and answer from the local fallback.
        "RATELIMIT_REDIS_TIMEOUT_MS": "2000",
    }
    processes, urls = [], []
    try:
        for _ in range(2):
            port = free_port()
            command = [
                sys.executable,
                "-m",
                "app.cli",
                "api",
                "--port",
                str(port),
                "--workers",
                "1",
            ]
            processes.append(subprocess.Popen(command, env=env, cwd=ROOT))
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            _wait_ready(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


async def test_500_concurrent_requests_across_two_processes_admit_exactly_the_limit(
    api_processes: list[str], factory: Factory
) -> None:
    tenant = await factory.tenant()
    key = (await tenant.gql.op("CreateSecretKey", {"input": {"name": "load"}})).data[
        "createSecretKey"
    ]["key"]
    headers = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=60) for url in api_processes]
    try:
        responses = await asyncio.gather(
            *(
                clients[i % 2].post("/graphql", json={"query": "{ __typename }"}, headers=headers)
                for i in range(500)
            )
        )
    finally:
        for client in clients:
            await client.aclose()

    statuses = collections.Counter(r.status_code for r in responses)
    assert set(statuses) == {200, 429}, statuses
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(admitted) == LIMIT
    assert len(refused) == 500 - LIMIT
    # One shared bucket, decided atomically: every admitted request saw a different remainder.
    remaining = sorted(int(r.headers["ratelimit"].split("r=")[1].split(";")[0]) for r in admitted)
    assert remaining == list(range(LIMIT))
    for response in refused:
        assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["ratelimit-policy"] == f'"workspace";q={LIMIT};w=3600'


def run_node(script: str, url: str) -> Any:
    """Run a script of tests/compliance with Node against `url`; its JSON output."""
    node = shutil.which("node")
    if node is None or not (AUDIT / "node_modules" / "graphql-http").is_dir():
        pytest.skip("needs Node and `npm ci --prefix tests/compliance` (make install does it)")
    completed = subprocess.run(
        [node, str(AUDIT / script), url], check=False, capture_output=True, timeout=120, text=True
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_graphql_over_http_server_audits(api_processes: list[str]) -> None:
    results = run_node("audit.mjs", f"{api_processes[0]}/graphql")
    assert len(results) > 50
    failed = [f"{r['id']} {r['name']}: {r['reason']}" for r in results if r["status"] != "ok"]
    assert failed == []


def test_stock_clients_work_unmodified(api_processes: list[str]) -> None:
    seen = run_node("clients.mjs", f"{api_processes[1]}/graphql")
    apollo = seen["apollo"]
    assert apollo["first"] == {"__typename": "Query"}
    assert apollo["second"] == {"__typename": "Query"}
    # Apollo's persisted-query link: hash only (unknown), then hash and query, then hash only.
    # It asks for application/graphql-response+json, so the miss is a 404 it retries on.
    assert apollo["sent"][:3] == [
        {"withQuery": False, "status": 404},
        {"withQuery": True, "status": 200},
        {"withQuery": False, "status": 200},
    ]
    assert apollo["invalid"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert seen["urql"] == {"data": {"__typename": "Query"}, "error": None}
    assert seen["graphqlRequest"] == {"__typename": "Query"}
