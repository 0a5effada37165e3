"""The IETF httpapi RateLimit fields (draft-ietf-httpapi-ratelimit-headers).

    RateLimit-Policy: "workspace";q=600;w=60, "key";q=300;w=60
    RateLimit: "workspace";r=598;t=1, "key";r=298;t=1

One list member per budget the request was charged to: `q` units per `w` seconds, `r` units
left, full again in `t` seconds. Units are rate-limit points (a simple operation costs one). On
a refusal the refusing budget's `t` equals Retry-After, as the draft recommends.
"""

from __future__ import annotations

from functools import lru_cache

from tenancy.ratelimit.policy import BucketState, Decision, Policy


@lru_cache(maxsize=1024)
def _policy_field(budgets: tuple[tuple[Policy, int, int], ...]) -> str:
    # The same few budgets answer every request of a workspace: format them once.
    return ", ".join(f'"{policy.value}";q={limit};w={window}' for policy, limit, window in budgets)


def _state(b: BucketState) -> str:
    return f'"{b.policy.value}";r={b.remaining};t={b.reset_s}'


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """RateLimit-Policy and RateLimit (and Retry-After on a refusal) for a decision."""
    buckets = decision.buckets
    if not buckets:
        return {}
    headers = {
        "RateLimit-Policy": _policy_field(tuple((b.policy, b.limit, b.window_s) for b in buckets)),
        "RateLimit": ", ".join(map(_state, buckets)),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after_s)
    return headers
