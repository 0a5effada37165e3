"""The IETF httpapi RateLimit fields (draft-ietf-httpapi-ratelimit-headers).

    RateLimit-Policy: "workspace";q=600;w=60, "key";q=300;w=60
    RateLimit: "workspace";r=598;t=1, "key";r=298;t=1

One list member per budget the request was charged to: `q` units per `w` seconds, `r` units
left, full again in `t` seconds. Units are rate-limit points (a simple operation costs one). On
a refusal the refusing budget's `t` equals Retry-After, as the draft recommends.
"""

from __future__ import annotations

from tenancy.ratelimit.policy import Decision


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """RateLimit-Policy and RateLimit (and Retry-After on a refusal) for a decision."""
    if not decision.buckets:
        return {}
    headers = {
        "RateLimit-Policy": ", ".join(
            f'"{b.policy.value}";q={b.limit};w={b.window_s}' for b in decision.buckets
        ),
        "RateLimit": ", ".join(
            f'"{b.policy.value}";r={b.remaining};t={b.reset_s}' for b in decision.buckets
        ),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after_s)
    return headers
