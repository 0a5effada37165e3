"""The subscription state machine: which Razorpay snapshot wins, whatever order they arrive in.

Webhooks arrive late, twice, or shuffled, and reconciliation fetches add snapshots of their
own. Every snapshot is judged against what we hold, so applying any set of them in any order
converges on the same state:

- Phases only move forward: created -> authenticated -> live (active, pending, halted,
  paused) -> ended (cancelled, completed, expired). An ended subscription stays ended: a late
  `subscription.charged` cannot revive a cancelled one.
- Within the live phase, the snapshot with more paid cycles wins, then the newer one (the
  event's `created_at`, or the time of a fetch). So `charged` arriving before `activated`
  still ends active, and an old `pending` cannot undo a later successful charge.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

LIVE = frozenset({"active", "pending", "halted", "paused"})
ENDED = frozenset({"cancelled", "completed", "expired", "replaced"})
PAST_DUE = frozenset({"pending", "halted"})

_PHASE = {"created": 0, "authenticated": 1, **dict.fromkeys(LIVE, 2), **dict.fromkeys(ENDED, 3)}


def phase(status: str) -> int:
    """0 created, 1 authenticated, 2 live, 3 ended."""
    return _PHASE[status]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a subscription stands, or where a snapshot says it stands."""

    status: str
    paid_count: int
    at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to take from a snapshot."""

    take_status: bool
    newer: bool  # the snapshot is at least as recent: take its plan, period and schedule
    reason: str


def judge(held: Position, incoming: Position) -> Verdict:
    """Decide whether `incoming` moves the subscription on from `held`."""
    held_phase, new_phase = phase(held.status), phase(incoming.status)
    if held_phase == 3:
        return Verdict(take_status=False, newer=False, reason=f"already {held.status}; stays ended")
    if new_phase < held_phase:
        return Verdict(
            take_status=False,
            newer=False,
            reason=f"stale {incoming.status} after {held.status}; kept {held.status}",
        )
    if new_phase > held_phase:
        return Verdict(take_status=True, newer=True, reason=f"{held.status} -> {incoming.status}")
    if (incoming.paid_count, _ts(incoming.at)) >= (held.paid_count, _ts(held.at)):
        reason = (
            f"{held.status} -> {incoming.status}"
            if incoming.status != held.status
            else f"still {held.status}"
        )
        return Verdict(take_status=True, newer=True, reason=reason)
    return Verdict(
        take_status=False,
        newer=False,
        reason=f"older {incoming.status} snapshot; kept {held.status}",
    )


def _ts(value: dt.datetime | None) -> float:
    return value.timestamp() if value is not None else float("-inf")
