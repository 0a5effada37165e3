"""The in-process fallback: the same GCRA arithmetic as gcra.lua on this process's clock.

Used only while Redis is unreachable. Each API process then enforces a fraction of every
budget on its own, so the total across processes stays near the real limit instead of
becoming unlimited.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Sequence

from tenancy.ratelimit.policy import Bucket, BucketState, Decision, Policy


class LocalBuckets:
    """GCRA buckets in a bounded in-memory map (least recently used keys are dropped)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._tats: OrderedDict[str, float] = OrderedDict()
        self._max_keys = max_keys

    def decide(
        self, buckets: Sequence[Bucket], fraction: float, now: float | None = None
    ) -> Decision:
        """Admit the request if every bucket, shrunk to `fraction` of its limit, has room."""
        now = time.monotonic() if now is None else now
        scaled = [(b, max(1, math.floor(b.limit * fraction))) for b in buckets]
        allowed, retry, refused, single = True, 0.0, None, 0.0
        plans: list[tuple[Bucket, int, float, float]] = []
        for bucket, limit in scaled:
            interval = bucket.window_s / limit
            tat = max(self._tats.get(bucket.key, now), now)
            new_tat = tat + min(max(bucket.cost, 1), limit) * interval
            allow_at = new_tat - bucket.window_s
            if allow_at > now:
                allowed = False
                if allow_at - now > retry:
                    retry, refused = allow_at - now, bucket.policy
                    single = max(0.0, tat + interval - bucket.window_s - now)
            plans.append((bucket, limit, tat, new_tat))
        states = []
        for bucket, limit, tat, new_tat in plans:
            interval = bucket.window_s / limit
            final = new_tat if allowed else tat
            if allowed:
                self._tats[bucket.key] = new_tat
                self._tats.move_to_end(bucket.key)
            remaining = max(0, math.floor((bucket.window_s - (final - now)) / interval))
            reset = math.ceil(final - now)
            states.append(BucketState(bucket.policy, limit, bucket.window_s, remaining, reset))
        while len(self._tats) > self._max_keys:
            self._tats.popitem(last=False)
        retry_s = math.ceil(retry)
        return finish_decision(allowed, states, retry_s, refused, local=True, blocked_s=single)


def finish_decision(
    allowed: bool,
    states: list[BucketState],
    retry_after_s: int,
    refused: Policy | None,
    *,
    local: bool,
    blocked_s: float = 0.0,
) -> Decision:
    """A decision whose refusing bucket reports the same reset time as Retry-After."""
    if allowed:
        return Decision(True, tuple(states), local=local)
    retry_after_s = max(1, retry_after_s)
    states = [
        BucketState(s.policy, s.limit, s.window_s, s.remaining, retry_after_s)
        if s.policy == refused
        else s
        for s in states
    ]
    return Decision(False, tuple(states), retry_after_s, refused, local=local, blocked_s=blocked_s)
