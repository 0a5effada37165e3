"""Razorpay webhooks: intake (verify, store) and processing (map, apply).

Intake must be fast and must never lose an event: verify the HMAC over the raw body, store the
event keyed by `x-razorpay-event-id` (insert-if-absent), and let the caller enqueue it. Any
failure before the event is stored answers non-2xx, so Razorpay delivers it again.

Processing runs in a job. It maps the event to a workspace through ids we stored (never
through payload notes, which anyone creating a Razorpay object can fill), scopes the
transaction to that workspace and applies forward-only changes. Events naming ids that are not
ours are acknowledged, marked `unmatched` for an operator, and retried a few times in case
they only arrived before the row that maps them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tenant import set_tenant
from app.errors import Unauthenticated, Unavailable, ValidationFailed
from app.jobs import JobBuffer
from billing.payments import repository as payments_repo
from billing.payments import service as payments
from billing.razorpay_entities import (
    InvoiceEntity,
    MalformedEntity,
    OrderEntity,
    PaymentEntity,
    RefundEntity,
    SubscriptionEntity,
    timestamp,
)
from billing.subscriptions import repository as subscriptions_repo
from billing.subscriptions import service as subscriptions
from billing.webhooks import repository
from billing.webhooks.models import RazorpayEvent

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EVENT_TYPE = re.compile(r"^[a-z_]{1,30}(\.[a-z_]{1,30}){1,3}$")

SUBSCRIPTION_EVENTS = frozenset(
    {
        "subscription.authenticated",
        "subscription.activated",
        "subscription.charged",
        "subscription.pending",
        "subscription.halted",
        "subscription.paused",
        "subscription.resumed",
        "subscription.cancelled",
        "subscription.completed",
        "subscription.updated",
    }
)
HANDLED = SUBSCRIPTION_EVENTS | {
    "payment.authorized",
    "payment.captured",
    "payment.failed",
    "order.paid",
    "refund.processed",
    "invoice.paid",
}


# --- intake ------------------------------------------------------------------------------------


def verify_signature(body: bytes, signature: str | None, secrets: Sequence[str]) -> int:
    """Check `X-Razorpay-Signature` (hex HMAC-SHA256 of the raw body) against each configured
    secret, in constant time; returns the index of the secret that matched (1 = the previous
    secret, still accepted while rotating)."""
    if not secrets:
        raise Unavailable("Webhook secrets are not configured on this server.")
    if signature is None or not signature.strip():
        raise ValidationFailed(
            "The X-Razorpay-Signature header is missing.", field="X-Razorpay-Signature"
        )
    candidate = signature.strip()
    if not candidate.isascii():
        raise Unauthenticated("The webhook signature does not match the body.")
    matched = -1
    for index, secret in enumerate(secrets):
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, candidate) and matched < 0:
            matched = index
    if matched < 0:
        raise Unauthenticated("The webhook signature does not match the body.")
    return matched


@dataclass(frozen=True, slots=True)
class Envelope:
    """The checked outer shape of a webhook body."""

    event_type: str
    created_at: dt.datetime | None
    data: dict[str, Any]


def parse_envelope(body: bytes) -> Envelope:
    """Parse a verified body: a JSON object with entity "event", an event name, a payload
    object and a creation time."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed("The webhook body is not JSON.") from exc
    if not isinstance(data, dict) or data.get("entity") != "event":
        raise ValidationFailed("The webhook body is not a Razorpay event.")
    event_type = data.get("event")
    if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
        raise ValidationFailed("The webhook body names no valid event.")
    if not isinstance(data.get("payload"), dict):
        raise ValidationFailed("The webhook body has no payload object.")
    try:
        created_at = timestamp(data.get("created_at"))
    except MalformedEntity as exc:
        raise ValidationFailed("The webhook's created_at is not a Unix timestamp.") from exc
    return Envelope(event_type, created_at, data)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What intake did with a delivery."""

    event_id: str
    stored: bool  # False: a duplicate of an event already in the ledger
    enqueue: bool  # True: processing should be (re)queued


async def receive(
    executor: repository.Executor,
    *,
    body: bytes,
    signature: str | None,
    event_id: str | None,
    secrets: Sequence[str],
) -> Receipt:
    """Verify and store one delivery (the caller commits, if it runs in a transaction, then
    enqueues)."""
    if len(body) > MAX_BODY_BYTES:
        raise ValidationFailed(f"The webhook body is larger than {MAX_BODY_BYTES} bytes.")
    signed_with = verify_signature(body, signature, secrets)
    if event_id is None or not _EVENT_ID.match(event_id):
        raise ValidationFailed(
            "The x-razorpay-event-id header is missing or malformed.", field="x-razorpay-event-id"
        )
    envelope = parse_envelope(body)
    if b"\\u0000" in body:
        # PostgreSQL's jsonb cannot hold NUL characters; refuse rather than fail to store.
        raise ValidationFailed("The webhook body contains a NUL character.")
    digest = hashlib.sha256(body).digest()
    stored = await repository.insert_event(
        executor,
        event_id=event_id,
        event_type=envelope.event_type,
        body_sha256=digest,
        body=body.decode(),
        signed_with=signed_with,
        provider_created_at=envelope.created_at,
    )
    if stored:
        return Receipt(event_id, stored=True, enqueue=True)
    existing = await repository.status_of(executor, event_id, digest)
    # A duplicate still waiting for its job is re-enqueued in case the first enqueue was lost
    # (the job id de-duplicates in arq, and processing is idempotent anyway).
    if existing is not None and existing[1] == "received":
        return Receipt(existing[0], stored=False, enqueue=True)
    return Receipt(existing[0] if existing else event_id, stored=False, enqueue=False)


# --- processing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entities:
    """The entities an event carries."""

    subscription: SubscriptionEntity | None
    payment: PaymentEntity | None
    order: OrderEntity | None
    invoice: InvoiceEntity | None
    refund: RefundEntity | None


def _entity(payload: dict[str, Any], name: str) -> Any:
    wrapper = payload.get(name)
    if wrapper is None:
        return None
    if not isinstance(wrapper, dict) or "entity" not in wrapper:
        raise MalformedEntity(f"payload.{name} has no entity")
    return wrapper["entity"]


def parse_entities(data: dict[str, Any]) -> Entities:
    """The typed entities of an event body."""
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise MalformedEntity("payload is not an object")

    def parsed(name: str, kind: Any) -> Any:
        raw = _entity(payload, name)
        return None if raw is None else kind.parse(raw)

    return Entities(
        subscription=parsed("subscription", SubscriptionEntity),
        payment=parsed("payment", PaymentEntity),
        order=parsed("order", OrderEntity),
        invoice=parsed("invoice", InvoiceEntity),
        refund=parsed("refund", RefundEntity),
    )


def _candidate_refs(entities: Entities) -> list[tuple[str, str]]:
    """Our ids an event may name, most specific first."""
    refs: list[tuple[str, str | None]] = []
    if entities.subscription:
        refs.append(("subscription", entities.subscription.id))
    if entities.invoice:
        refs += [
            ("subscription", entities.invoice.subscription_id),
            ("invoice", entities.invoice.id),
        ]
    if entities.order:
        refs.append(("order", entities.order.id))
    if entities.refund:
        refs.append(("payment", entities.refund.payment_id))
    if entities.payment:
        refs += [
            ("subscription", entities.payment.subscription_id),
            ("order", entities.payment.order_id),
            ("invoice", entities.payment.invoice_id),
            ("payment", entities.payment.id),
        ]
    seen: list[tuple[str, str]] = []
    for kind, ref in refs:
        if ref is not None and (kind, ref) not in seen:
            seen.append((kind, ref))
    return seen


@dataclass(frozen=True, slots=True)
class Outcome:
    """How processing an event ended: processed, ignored or unmatched, and a note."""

    status: str
    note: str
    workspace_id: uuid.UUID | None = None


async def map_workspace(
    session: AsyncSession, refs: list[tuple[str, str]]
) -> tuple[uuid.UUID | None, str]:
    """The workspace owning the first of `refs` we know, and a note."""
    for kind, ref in refs:
        found = await repository.workspaces_for(session, kind, ref)
        if len(found) == 1:
            return found[0], f"{kind} {ref}"
        if len(found) > 1:
            return None, f"{kind} {ref} is held by {len(found)} workspaces"
    named = ", ".join(f"{kind} {ref}" for kind, ref in refs) or "no ids"
    return None, f"no workspace holds {named}"


async def process(
    session: AsyncSession, event: RazorpayEvent, *, grace: dt.timedelta, jobs: JobBuffer
) -> Outcome:
    """Apply one stored event (the caller holds its ledger row locked and commits)."""
    if event.event_type not in HANDLED:
        return Outcome("ignored", f"{event.event_type} is not an event Parley acts on")
    try:
        entities = parse_entities(event.payload)
    except MalformedEntity as exc:
        log.error("malformed razorpay event %s: %s", event.event_id, exc)
        return Outcome("ignored", f"malformed: {exc}")
    # A fresh transaction: no tenant is set, so only the provider-lookup policy applies.
    workspace_id, mapped = await map_workspace(session, _candidate_refs(entities))
    if workspace_id is None:
        return Outcome("unmatched", mapped)
    await set_tenant(session, workspace_id)
    await subscriptions_repo.lock_billing(session, workspace_id)
    at = event.provider_created_at or event.received_at
    notes = [f"mapped by {mapped}"]
    notes += await apply_entities(
        session, workspace_id, event.event_type, entities, at, grace=grace, jobs=jobs
    )
    return Outcome("processed", "; ".join(notes), workspace_id)


async def apply_entities(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    event_type: str,
    entities: Entities,
    at: dt.datetime,
    *,
    grace: dt.timedelta,
    jobs: JobBuffer,
) -> list[str]:
    """Apply an event's entities inside the workspace's transaction (billing lock held)."""
    notes: list[str] = []
    subscription = None
    if entities.subscription is not None:
        subscription = await subscriptions_repo.get_by_razorpay_id(
            session, workspace_id, entities.subscription.id
        )
        if subscription is None:
            notes.append(f"subscription {entities.subscription.id} is not this workspace's")
        else:
            notes.append(
                await subscriptions.apply_snapshot(
                    session, subscription, entities.subscription, at, grace=grace, jobs=jobs
                )
            )
    if entities.refund is not None:
        notes.append(
            await payments.record_refund(session, workspace_id, entities.refund, entities.payment)
        )
    elif entities.payment is not None:
        notes.append(
            await payments.record_payment(
                session,
                workspace_id,
                entities.payment,
                subscription_id=entities.subscription.id if entities.subscription else None,
            )
        )
        if subscription is not None and event_type == "subscription.charged":
            charged = await payments.record_charge(session, subscription, entities.payment, at)
            if charged:
                notes.append(charged)
    if entities.invoice is not None:
        notes.append(await payments.record_invoice(session, workspace_id, entities.invoice))
    order_ref = (
        entities.order.id
        if entities.order
        else entities.payment.order_id
        if entities.payment and entities.refund is None
        else None
    )
    if order_ref is not None:
        order = await payments_repo.order_by_razorpay_id(
            session, workspace_id, order_ref, lock=True
        )
        if order is not None:
            paid = (entities.order is not None and entities.order.status == "paid") or (
                entities.payment is not None
                and entities.payment.status == "captured"
                and entities.payment.amount >= order.amount_minor
            )
            if paid:
                notes.append(await payments.mark_order_paid(session, order, at, source=event_type))
            elif order.status == "created" and entities.payment is not None:
                await payments_repo.update_order(
                    session, workspace_id, order.id, status="attempted"
                )
    return notes
