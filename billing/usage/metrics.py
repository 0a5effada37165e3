"""The metered quantities and the period each one counts over."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

LIFETIME = dt.date(2000, 1, 1)


class Metric(StrEnum):
    """Everything Parley meters per workspace."""

    CONVERSATIONS = "conversations"
    MESSAGES = "messages"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    DOCUMENTS = "documents"
    STORED_BYTES = "stored_bytes"
    API_REQUESTS = "api_requests"
    # Input plus output tokens: the quantity the AI-token quota is reserved and counted in.
    AI_TOKENS = "ai_tokens"

    @property
    def monthly(self) -> bool:
        """True for metrics that reset every calendar month; the rest are running totals."""
        return self not in (Metric.DOCUMENTS, Metric.STORED_BYTES)


def month_start(now: dt.datetime | None = None) -> dt.date:
    """The first day of the current month (UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    return dt.date(now.year, now.month, 1)


def next_month_start(now: dt.datetime | None = None) -> dt.datetime:
    """When monthly counters reset."""
    start = month_start(now)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


def period_for(metric: Metric, now: dt.datetime | None = None) -> dt.date:
    """The period a metric's current value is kept under."""
    return month_start(now) if metric.monthly else LIFETIME
