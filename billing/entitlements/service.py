"""Quotas: the API other domains call where usage happens, inside their own transaction.

    from billing.entitlements import service as entitlements
    from billing.entitlements.limits import Limit

    # Before creating something counted: raises QuotaExceeded (extensions.code QUOTA_EXCEEDED,
    # naming the limit, its value, current usage and resetsAt).
    await entitlements.require(session, workspace_id, Limit.DOCUMENTS, 1)
    await entitlements.require_all(session, workspace_id, {Limit.DOCUMENTS: 1,
                                                          Limit.STORED_BYTES: size})

    # Around a model call: reserve in a short transaction and commit it *before* the call,
    # then commit (or release) the reservation in a later one.
    held = await entitlements.reserve(session, workspace_id, estimated_tokens)
    ...
    await entitlements.commit(session, workspace_id, held.id,
                              input_tokens=..., output_tokens=...)
    await entitlements.release(session, workspace_id, held.id)   # on failure

    # For the rate limiter: the limits in force now (one query, cached per transaction).
    limits = await entitlements.plan_limits(session, workspace_id)

How each check is atomic:
- Counter limits (conversations a month, documents, stored bytes): `require` locks the
  workspace's counter row (SELECT ... FOR UPDATE) and checks it; the lock holds until the
  caller commits, after it has recorded the usage with `billing.usage.service.record`, so the
  next check sees it. Parallel requests queue on the row and cannot both squeeze in.
- Row-counted limits (members incl. pending invitations, publishable keys): a transaction
  advisory lock per workspace and limit, then a count; the caller inserts before committing.
- AI tokens: `reserve` is a single conditional UPDATE of `reserved` (value + reserved +
  amount <= limit). It commits quickly, so model calls run in parallel while the total held
  and used never passes the limit. `commit` moves the reservation to used with the real
  count; `release` gives it back; reservations a crashed caller left behind expire.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.ids import uuid7
from app.errors import QuotaExceeded
from billing.entitlements import repository
from billing.entitlements.limits import TOPUP_LIMITS, Limit, PlanLimits
from billing.entitlements.models import Reservation
from billing.subscriptions import service as subscriptions
from billing.usage import service as usage
from billing.usage.metrics import LIFETIME, Metric, month_start, period_for
from tenancy.principal import Principal

WARNING_RATIO = 0.8
MAX_RESERVATION = 10_000_000
DEFAULT_RESERVATION_TTL = dt.timedelta(minutes=10)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def plan_limits(
    session: AsyncSession, workspace_id: uuid.UUID, now: dt.datetime | None = None
) -> PlanLimits:
    """The limits in force for the workspace now (the free plan's while a paid plan is past
    its grace period or paused). Cheap: one query, cached for the transaction."""
    current = await subscriptions.current_plan(session, workspace_id, now)
    return PlanLimits.of(current.effective)


async def effective_limit(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limit: Limit,
    now: dt.datetime | None = None,
) -> int | None:
    """The plan's limit plus this month's top-ups (None: unlimited)."""
    value = (await plan_limits(session, workspace_id, now))[limit]
    if value is None or limit not in TOPUP_LIMITS:
        return value
    extra = (await repository.credits(session, workspace_id, month_start(now))).get(limit.value, 0)
    return max(value + extra, 0)


def exceeded(
    limit: Limit,
    *,
    plan: str,
    maximum: int,
    used: int,
    requested: int,
    now: dt.datetime | None = None,
) -> QuotaExceeded:
    """The QUOTA_EXCEEDED error for a limit: names it, its value, usage and when it resets."""
    resets = limit.resets_at(now)
    message = (
        f"The {plan} plan allows {maximum:,} {limit.label}; {used:,} are used and "
        f"{requested:,} more were asked for."
    )
    message += (
        f" The allowance resets at {resets:%Y-%m-%d %H:%M} UTC; upgrade or buy a top-up "
        "for more now."
        if resets
        else " Free some up or upgrade the plan."
    )
    error = QuotaExceeded(
        message,
        limit=limit.name,
        limitValue=maximum,
        used=used,
        requested=requested,
        plan=plan,
    )
    # Present even when null: a limit that never resets says so explicitly.
    error.extensions["resetsAt"] = resets.isoformat() if resets else None
    return error


async def _used_by_rows(session: AsyncSession, workspace_id: uuid.UUID, limit: Limit) -> int:
    if limit is Limit.MEMBERS:
        return await repository.count_members_and_invitations(session, workspace_id, _now())
    if limit is Limit.PUBLISHABLE_KEYS:
        return await repository.count_publishable_keys(session, workspace_id)
    raise ValueError(f"{limit} is not counted from rows")


async def require(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limit: Limit,
    amount: int = 1,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Admit `amount` more of `limit` or raise QuotaExceeded. The check holds a lock until
    the caller's transaction ends, so record the usage (counter limits) or insert the row
    (members, keys) in the same transaction. API requests are the rate limiter's, and AI
    tokens go through `reserve`."""
    if limit in (Limit.API_REQUESTS_PER_MINUTE, Limit.AI_TOKENS_PER_MONTH):
        raise ValueError(f"{limit} is not checked with require()")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount must be a non-negative integer")
    maximum = await effective_limit(session, workspace_id, limit, now)
    if maximum is None:
        return
    metric = limit.metric
    if metric is None:
        await repository.lock_limit(session, workspace_id, limit.value)
        used = await _used_by_rows(session, workspace_id, limit)
    else:
        period = period_for(metric, now)
        await repository.ensure_counter(session, workspace_id, metric.value, period)
        used = (await repository.lock_counter(session, workspace_id, metric.value, period)).value
    if used + amount > maximum:
        plan = (await plan_limits(session, workspace_id, now)).plan_code
        raise exceeded(limit, plan=plan, maximum=maximum, used=used, requested=amount, now=now)


async def require_all(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    amounts: Mapping[Limit, int],
    *,
    now: dt.datetime | None = None,
) -> None:
    """`require` several limits, locking them in one fixed order so two callers can never
    deadlock on each other's locks."""
    for limit in sorted(amounts, key=lambda item: list(Limit).index(item)):
        await require(session, workspace_id, limit, amounts[limit], now=now)


@dataclass(frozen=True, slots=True)
class Held:
    """A reservation of AI tokens; pass its id to `commit` or `release`."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    amount: int
    expires_at: dt.datetime


async def _release_expired(
    session: AsyncSession, workspace_id: uuid.UUID, now: dt.datetime
) -> None:
    for metric, period, amount in await repository.release_expired(session, workspace_id, now):
        await repository.adjust_counter(
            session, workspace_id, metric, period, reserved_delta=-amount, value_delta=0
        )


async def reserve(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    tokens: int,
    *,
    ttl: dt.timedelta = DEFAULT_RESERVATION_TTL,
    now: dt.datetime | None = None,
) -> Held:
    """Hold `tokens` AI tokens of this month's allowance for a model call, or raise
    QuotaExceeded. Commit the transaction before calling the model: the counter row stays
    locked until then."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 < tokens <= MAX_RESERVATION:
        raise ValueError(f"tokens must be an integer from 1 to {MAX_RESERVATION}")
    at = now or _now()
    period = month_start(at)
    metric = Metric.AI_TOKENS.value
    await _release_expired(session, workspace_id, at)
    maximum = await effective_limit(session, workspace_id, Limit.AI_TOKENS_PER_MONTH, now)
    await repository.ensure_counter(session, workspace_id, metric, period)
    if not await repository.try_reserve(session, workspace_id, metric, period, tokens, maximum):
        assert maximum is not None
        counter = await repository.read_counter(session, workspace_id, metric, period)
        plan = (await plan_limits(session, workspace_id, now)).plan_code
        raise exceeded(
            Limit.AI_TOKENS_PER_MONTH,
            plan=plan,
            maximum=maximum,
            used=counter.value + counter.reserved,
            requested=tokens,
            now=at,
        )
    reservation = Reservation(
        workspace_id=workspace_id,
        id=uuid7(),
        metric=metric,
        period_start=period,
        amount=tokens,
        status="held",
        expires_at=at + ttl,
    )
    await repository.insert_reservation(session, reservation)
    return Held(reservation.id, workspace_id, tokens, reservation.expires_at)


async def commit(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    reservation_id: uuid.UUID,
    *,
    input_tokens: int,
    output_tokens: int,
    now: dt.datetime | None = None,
) -> None:
    """Settle a reservation with the tokens the call really used (it may differ from the
    estimate) and count them in usage (input, output and the AI-token total). Idempotent:
    committing twice counts once."""
    if min(input_tokens, output_tokens) < 0:
        raise ValueError("token counts must be non-negative")
    used = input_tokens + output_tokens
    at = now or _now()
    settled = await repository.settle_reservation(
        session, workspace_id, reservation_id, status="committed", used=used, now=at
    )
    if settled is not None:
        metric, period, amount = settled
        await repository.adjust_counter(
            session, workspace_id, metric, period, reserved_delta=-amount, value_delta=used
        )
    else:
        held = await repository.get_reservation(session, workspace_id, reservation_id)
        if held is None:
            raise LookupError(f"no reservation {reservation_id} in this workspace")
        if held.status == "committed":
            return
        # Expired and released before the call finished: the tokens were still spent.
        await repository.mark_committed(session, workspace_id, reservation_id, used)
        await repository.adjust_counter(
            session,
            workspace_id,
            held.metric,
            held.period_start,
            reserved_delta=0,
            value_delta=used,
        )
    await usage.record(session, workspace_id, Metric.INPUT_TOKENS, input_tokens)
    await usage.record(session, workspace_id, Metric.OUTPUT_TOKENS, output_tokens)


async def release(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    reservation_id: uuid.UUID,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Give a reservation back (the model call failed). Idempotent."""
    settled = await repository.settle_reservation(
        session, workspace_id, reservation_id, status="released", used=None, now=now or _now()
    )
    if settled is not None:
        metric, period, amount = settled
        await repository.adjust_counter(
            session, workspace_id, metric, period, reserved_delta=-amount, value_delta=0
        )


# --- reporting ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """One limit against its usage."""

    limit: Limit
    used: int | None
    reserved: int
    maximum: int | None
    resets_at: dt.datetime | None

    @property
    def ratio(self) -> float | None:
        """Share of the limit used (None: unlimited or not metered here)."""
        if self.used is None or self.maximum is None:
            return None
        if self.maximum == 0:
            return 1.0 if self.used > 0 else 0.0
        return (self.used + self.reserved) / self.maximum

    @property
    def level(self) -> str:
        """ok, warning (80% or more) or exceeded (100% or more)."""
        ratio = self.ratio
        if ratio is None or ratio < WARNING_RATIO:
            return "ok"
        return "exceeded" if ratio >= 1 else "warning"

    @property
    def warning(self) -> str | None:
        """A sentence for the dashboard when usage is at 80% or more."""
        if self.level == "ok":
            return None
        assert self.used is not None and self.maximum is not None
        share = round((self.ratio or 0) * 100)
        when = f"; resets {self.resets_at:%Y-%m-%d}" if self.resets_at else ""
        return (
            f"{share}% of {self.limit.label} used ({self.used + self.reserved:,} of "
            f"{self.maximum:,}{when})."
        )


@dataclass(frozen=True, slots=True)
class QuotaReport:
    """Every limit of the current plan against usage."""

    current: subscriptions.CurrentPlan
    items: list[QuotaUsage]

    @property
    def warnings(self) -> list[str]:
        """The items at 80% or more, as sentences."""
        return [item.warning for item in self.items if item.warning]


async def report(
    session: AsyncSession, principal: Principal, now: dt.datetime | None = None
) -> QuotaReport:
    """Usage of the caller's workspace against its limits (any member may read it)."""
    workspace_id = principal.require_workspace()
    at = now or _now()
    current = await subscriptions.current_plan(session, workspace_id, now)
    limits = PlanLimits.of(current.effective)
    month = month_start(at)
    found = await repository.counters(session, workspace_id, [month, LIFETIME])
    extra = await repository.credits(session, workspace_id, month)
    items: list[QuotaUsage] = []
    for limit in Limit:
        maximum = limits[limit]
        if maximum is not None and limit in TOPUP_LIMITS:
            maximum = max(maximum + extra.get(limit.value, 0), 0)
        metric = limit.metric
        used: int | None
        reserved = 0
        if metric is not None:
            counter = found.get((metric.value, period_for(metric, at)))
            used = counter.value if counter else 0
            reserved = counter.reserved if counter else 0
        elif limit is Limit.API_REQUESTS_PER_MINUTE:
            used = None  # the rate limiter's window, not stored here
        else:
            used = await _used_by_rows(session, workspace_id, limit)
        items.append(QuotaUsage(limit, used, reserved, maximum, limit.resets_at(at)))
    return QuotaReport(current, items)
