"""`POST /webhooks/razorpay`: a plain Litestar route, outside GraphQL.

Verify the signature over the raw bytes, store the event, answer 200, then enqueue its
processing. Bad signatures and bodies are refused (4xx, nothing stored); a failure to store
answers 503 so Razorpay delivers the event again. A failure to enqueue after storing changes
nothing for Razorpay: the event is safe in the ledger and the requeue job picks it up.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from litestar import Request, Response, post
from litestar.background_tasks import BackgroundTask

from app.errors import ParleyError
from app.jobs import QUEUE_INTERACTIVE
from app.state import AppState
from billing.webhooks import service

log = logging.getLogger("parley.webhooks")

PROCESS_JOB = "process_razorpay_event"


def job_id(event_id: str) -> str:
    """The arq job id of an event's processing (de-duplicates enqueues)."""
    return f"rzp:{event_id}"


def _json(
    body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers=headers or {},
    )


async def _enqueue(state: AppState, event_id: str) -> None:
    try:
        await state.queue.enqueue_job(
            PROCESS_JOB, event_id, _job_id=job_id(event_id), _queue_name=QUEUE_INTERACTIVE
        )
    except Exception:
        log.exception("event %s stored but not enqueued; the requeue job will", event_id)


async def intake(state: AppState, body: bytes, headers: Any) -> Response[bytes]:
    """Handle one delivery and choose the status code Razorpay sees."""
    secrets = [s.get_secret_value() for s in state.settings.razorpay.webhook_secrets]
    try:
        # One INSERT, atomic by itself: autocommit saves the BEGIN and COMMIT round trips.
        async with state.engine.connect() as pooled:
            conn = await pooled.execution_options(isolation_level="AUTOCOMMIT")
            receipt = await service.receive(
                conn,
                body=body,
                signature=headers.get("x-razorpay-signature"),
                event_id=headers.get("x-razorpay-event-id"),
                secrets=secrets,
            )
    except ParleyError as exc:
        if exc.status_code >= 500:
            log.error("webhook refused: %s", exc.message)
        else:
            log.warning("webhook refused (%s): %s", exc.code.value, exc.message)
        return _json({"error": exc.message, "code": exc.code.value}, exc.status_code)
    except Exception:
        # Anything else before the event is stored (database down, connection lost,
        # statement timeout): make Razorpay try again.
        log.exception("webhook could not be stored")
        return _json(
            {"error": "The event could not be stored; retry later.", "code": "UNAVAILABLE"},
            503,
            {"Retry-After": "5"},
        )
    response = _json({"status": "accepted" if receipt.stored else "duplicate"}, 200)
    if receipt.enqueue and state.queue is not None:
        # After the answer is sent: the event is already safe in the ledger, and a lost
        # enqueue is picked up by the requeue job.
        response.background = BackgroundTask(_enqueue, state, receipt.event_id)
    return response


@post("/webhooks/razorpay", include_in_schema=False, status_code=200)
async def razorpay_webhook(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Receive a Razorpay webhook."""
    body = await request.body()
    return await intake(request.app.state.parley, body, request.headers)
