"""SQL for the webhook ledger, and the one way to learn a workspace from a Razorpay id.

The ledger is global. Mapping an event to its workspace uses the `provider_lookup` policies
of the billing tables: a transaction that puts an exact Razorpay id in `app.provider_ref` may
read the row holding that id (and only that row) to learn its workspace.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from billing.payments.models import Invoice, Order, Payment
from billing.subscriptions.models import Subscription
from billing.webhooks.models import RazorpayEvent

_SET_REF = text("SELECT set_config('app.provider_ref', :ref, true)")

_REF_COLUMNS: dict[str, Any] = {
    "subscription": (Subscription.workspace_id, Subscription.razorpay_subscription_id),
    "order": (Order.workspace_id, Order.razorpay_order_id),
    "payment": (Payment.workspace_id, Payment.razorpay_payment_id),
    "invoice": (Invoice.workspace_id, Invoice.razorpay_invoice_id),
}


async def workspaces_for(session: AsyncSession, kind: str, ref: str) -> list[uuid.UUID]:
    """The workspaces holding Razorpay id `ref` of `kind` (one, normally; none for an id
    that is not ours). Call with no tenant set. The id stays in `app.provider_ref` until the
    transaction ends: it reveals only rows holding that id, which the caller has just mapped
    (and clearing it would cost a round trip on the webhook hot path)."""
    workspace_column, ref_column = _REF_COLUMNS[kind]
    await session.execute(_SET_REF, {"ref": ref})
    rows = await session.scalars(select(workspace_column).where(ref_column == ref).distinct())
    return list(rows)


Executor = AsyncSession | AsyncConnection

# Plain SQL on the hot path of intake: the raw body goes in as text and PostgreSQL parses it
# into jsonb, so the payload is never re-encoded in Python.
_INSERT_EVENT = text(
    "INSERT INTO razorpay_events (event_id, event_type, body_sha256, payload, signed_with, "
    "provider_created_at) VALUES (:event_id, :event_type, :body_sha256, CAST(:body AS jsonb), "
    ":signed_with, :provider_created_at) ON CONFLICT DO NOTHING RETURNING event_id"
)


async def insert_event(
    executor: Executor,
    *,
    event_id: str,
    event_type: str,
    body_sha256: bytes,
    body: str,
    signed_with: int,
    provider_created_at: dt.datetime | None,
) -> bool:
    """Store an event unless its id or body is already in the ledger; True when stored. One
    statement, atomic on its own, so intake can run it without an explicit transaction."""
    result = await executor.execute(
        _INSERT_EVENT,
        {
            "event_id": event_id,
            "event_type": event_type,
            "body_sha256": body_sha256,
            "body": body,
            "signed_with": signed_with,
            "provider_created_at": provider_created_at,
        },
    )
    return result.first() is not None


async def status_of(
    executor: Executor, event_id: str, body_sha256: bytes
) -> tuple[str, str] | None:
    """(event id, status) of the stored event with this id or body."""
    row = (
        await executor.execute(
            select(RazorpayEvent.event_id, RazorpayEvent.status).where(
                (RazorpayEvent.event_id == event_id) | (RazorpayEvent.body_sha256 == body_sha256)
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


_ASYNC_COMMIT = text("SELECT set_config('synchronous_commit', 'off', true)")


async def lock_event(session: AsyncSession, event_id: str) -> RazorpayEvent | None:
    """An event, locked so two runs of its job cannot process it at once."""
    return await session.scalar(
        select(RazorpayEvent)
        .where(RazorpayEvent.event_id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def commit_without_waiting_for_disk(session: AsyncSession) -> None:
    """Let this transaction's COMMIT return before its WAL reaches disk. Safe for processing
    an event: a commit lost in a crash takes the ledger's `processed` mark with it, so the
    event is simply processed again; it spares the disk flushes that intake needs."""
    await session.execute(_ASYNC_COMMIT)


async def finish(session: AsyncSession, event_id: str, *, status: str, outcome: str) -> None:
    """Record how processing ended (and count the attempt)."""
    await session.execute(
        update(RazorpayEvent)
        .where(RazorpayEvent.event_id == event_id)
        .values(
            status=status,
            outcome=outcome[:500],
            attempts=RazorpayEvent.attempts + 1,
            processed_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )


async def get_event(session: AsyncSession, event_id: str) -> RazorpayEvent | None:
    """An event by id (for operators and tests)."""
    return await session.scalar(
        select(RazorpayEvent)
        .where(RazorpayEvent.event_id == event_id)
        .execution_options(populate_existing=True)
    )


async def due_for_retry(
    session: AsyncSession,
    now: dt.datetime,
    *,
    stalled_after: dt.timedelta,
    delays: list[int],
    limit: int,
) -> list[str]:
    """Events to enqueue again: received but never processed for a while (the enqueue after
    storing was lost), and unmatched or failed ones whose next retry is due."""
    stalled = select(RazorpayEvent.event_id).where(
        RazorpayEvent.status == "received", RazorpayEvent.received_at < now - stalled_after
    )
    ids = list(await session.scalars(stalled.order_by(RazorpayEvent.received_at).limit(limit)))
    for attempt, delay in enumerate(delays, start=1):
        retry = select(RazorpayEvent.event_id).where(
            RazorpayEvent.status.in_(("unmatched", "failed")),
            RazorpayEvent.attempts == attempt,
            RazorpayEvent.processed_at < now - dt.timedelta(seconds=delay),
        )
        ids.extend(await session.scalars(retry.limit(limit)))
    return ids[:limit]
