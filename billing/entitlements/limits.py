"""The limits a plan sets, and how each is measured."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from billing.plans.models import Plan
from billing.usage.metrics import Metric, next_month_start


class Limit(StrEnum):
    """Every limit a plan sets; the value is the plan column that holds it."""

    CONVERSATIONS_PER_MONTH = "conversations_per_month"
    DOCUMENTS = "documents"
    STORED_BYTES = "stored_bytes"
    MEMBERS = "members"
    PUBLISHABLE_KEYS = "publishable_keys"
    API_REQUESTS_PER_MINUTE = "api_requests_per_minute"
    AI_TOKENS_PER_MONTH = "ai_tokens_per_month"

    @property
    def metric(self) -> Metric | None:
        """The usage counter this limit is checked against (None: counted from rows, or
        enforced by the rate limiter)."""
        return _METRICS.get(self)

    @property
    def monthly(self) -> bool:
        """True for limits that reset at the start of each calendar month (UTC)."""
        return self in (Limit.CONVERSATIONS_PER_MONTH, Limit.AI_TOKENS_PER_MONTH)

    def resets_at(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """When usage against this limit starts again from zero (None: it never does)."""
        return next_month_start(now) if self.monthly else None

    @property
    def label(self) -> str:
        """Human wording for messages."""
        return _LABELS[self]


_METRICS = {
    Limit.CONVERSATIONS_PER_MONTH: Metric.CONVERSATIONS,
    Limit.DOCUMENTS: Metric.DOCUMENTS,
    Limit.STORED_BYTES: Metric.STORED_BYTES,
    Limit.AI_TOKENS_PER_MONTH: Metric.AI_TOKENS,
}

_LABELS = {
    Limit.CONVERSATIONS_PER_MONTH: "conversations a month",
    Limit.DOCUMENTS: "documents",
    Limit.STORED_BYTES: "bytes of stored documents",
    Limit.MEMBERS: "members (including pending invitations)",
    Limit.PUBLISHABLE_KEYS: "active publishable keys",
    Limit.API_REQUESTS_PER_MINUTE: "API requests a minute",
    Limit.AI_TOKENS_PER_MONTH: "AI tokens a month",
}

# Limits a top-up pack can add to for the current month, and the pack column that adds.
TOPUP_LIMITS = {
    Limit.AI_TOKENS_PER_MONTH: "ai_tokens",
    Limit.CONVERSATIONS_PER_MONTH: "conversations",
}


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """The limits in force for a workspace now: its plan's, or the free plan's while a paid
    plan is unpaid past its grace period or paused. None means unlimited.

    Immutable (`values` is a read-only copy): the hot cache hands the same object to every
    request (billing/entitlements/cache.py)."""

    plan_code: str
    plan_version: int
    values: Mapping[Limit, int | None]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def __getitem__(self, limit: Limit) -> int | None:
        return self.values[limit]

    @property
    def api_requests_per_minute(self) -> int | None:
        """Shortcut for the rate limiter."""
        return self.values[Limit.API_REQUESTS_PER_MINUTE]

    @classmethod
    def of(cls, plan: Plan) -> PlanLimits:
        """The limits a plan version sets."""
        return cls(
            plan_code=plan.code,
            plan_version=plan.version,
            values={limit: getattr(plan, limit.value) for limit in Limit},
        )
