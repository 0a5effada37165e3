"""SIGTERM to a real worker process during a slow job: the job finishes (or, past the
deadline, goes back to the queue), jobs not yet started stay queued, and nothing is lost.
The slow job is a real one: an invitation email to an SMTP server that takes its time."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.jobs import QUEUE_BULK
from app.state import AppState
from tests.ops.conftest import raw_id
from tests.ops.test_metrics import sample
from tests.support import processes
from tests.support.factories import Factory, Tenant
from tests.support.services import TestServices as RunningServices
from tests.support.smtp_server import SlowSMTPServer

pytestmark = pytest.mark.slow


@pytest.fixture
def smtp() -> Iterator[SlowSMTPServer]:
    server = SlowSMTPServer(delay_s=3.0).start()
    try:
        yield server
    finally:
        server.stop()


async def invite(tenant: Tenant, label: str) -> tuple[str, str, str, str]:
    """A pending invitation: (workspace id, invitation id, token, email)."""
    email = f"{label}-{uuid.uuid4().hex[:8]}@example.com"
    data = (await tenant.gql.op("InviteMember", {"input": {"email": email, "role": "MEMBER"}})).data
    invitation = data["inviteMember"]
    return (
        str(raw_id(tenant.id)),
        str(raw_id(invitation["invitation"]["id"], "Invitation")),
        invitation["token"],
        email,
    )


async def enqueue(state: AppState, job: tuple[str, str, str, str]) -> str:
    job_id = f"test-invite-{job[1]}"
    await state.queue.enqueue_job(
        "send_invitation_email", *job[:3], _queue_name=QUEUE_BULK, _job_id=job_id
    )
    return job_id


async def wait_for(event: threading.Event) -> None:
    """Until the SMTP server is receiving a message (30 s at most)."""
    assert await asyncio.to_thread(event.wait, 30), "timed out"


async def wait_exit(process: subprocess.Popen[bytes], limit: float = 40.0) -> int:
    """The exit code, once the process has exited (`limit` seconds at most)."""
    try:
        return await asyncio.to_thread(process.wait, limit)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("worker did not exit") from exc


async def result_of(state: AppState, job_id: str) -> bool | None:
    for result in await state.queue.all_job_results():
        if result.job_id == job_id:
            return bool(result.success)
    return None


def delivered_to(smtp: SlowSMTPServer, email: str) -> int:
    return sum(1 for m in smtp.messages if any(email in r for r in m.recipients))


async def test_sigterm_during_a_slow_job_loses_nothing(
    services: RunningServices,
    state: AppState,
    factory: Factory,
    smtp: SlowSMTPServer,
    tmp_path: Path,
) -> None:
    tenant = await factory.tenant("Mailer Co")
    first, second = await invite(tenant, "first"), await invite(tenant, "second")
    first_id = await enqueue(state, first)
    metrics_port = processes.free_port()
    env = processes.parley_env(
        services,
        EMAIL_SMTP_HOST="127.0.0.1",
        EMAIL_SMTP_PORT=str(smtp.port),
        WORKER_SHUTDOWN_TIMEOUT_S="20",
        METRICS_WORKER_PORT=str(metrics_port),
        WORKER_QUEUE_SAMPLE_INTERVAL_S="0.2",
    )

    # 1. The job is in the middle of sending when SIGTERM arrives: it finishes, the worker
    #    takes nothing new (a job queued after the signal stays queued), then exits cleanly.
    worker = processes.start(["worker"], env, tmp_path / "worker-1.log")
    try:
        await wait_for(smtp.started_data)
        async with httpx.AsyncClient() as client:
            exposed = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert sample(exposed, "parley_jobs_in_progress", function="send_invitation_email") == 1
        worker.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        second_id = await enqueue(state, second)
        assert await wait_exit(worker) == 0
    finally:
        processes.stop(worker)
    assert delivered_to(smtp, first[3]) == 1
    assert await result_of(state, first_id) is True
    assert await state.queue.zscore(QUEUE_BULK, second_id) is not None
    assert delivered_to(smtp, second[3]) == 0

    # 2. A job that outlives the shutdown deadline is cancelled and handed back to the queue.
    smtp.delay_s = 6.0
    smtp.started_data.clear()
    env["WORKER_SHUTDOWN_TIMEOUT_S"] = "1"
    worker = processes.start(["worker"], env, tmp_path / "worker-2.log")
    try:
        await wait_for(smtp.started_data)
        worker.send_signal(signal.SIGTERM)
        assert await wait_exit(worker, 15) == 0
    finally:
        processes.stop(worker)
    assert await state.queue.zscore(QUEUE_BULK, second_id) is not None
    assert not await state.queue.exists(f"arq:in-progress:{second_id}")
    assert await result_of(state, second_id) is None

    # 3. The next worker runs it to completion.
    smtp.delay_s = 0.0
    worker = processes.start(["worker", "--burst"], env, tmp_path / "worker-3.log")
    try:
        assert await wait_exit(worker, 40) == 0
    finally:
        processes.stop(worker)
    assert await result_of(state, second_id) is True
    assert delivered_to(smtp, second[3]) >= 1
    log = (tmp_path / "worker-2.log").read_text()
    assert "handing them back to the queue" in log
