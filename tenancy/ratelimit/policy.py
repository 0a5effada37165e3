"""Which buckets a request is charged to, and what a decision says about them.

Every bucket key carries a Redis Cluster hash tag for the partition it belongs to
(`parley:{ws:<id>}:rl:...`, `parley:{ip:<ip>}:rl:ip`), so one decision's keys always share a
slot and the Lua script can touch them atomically.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from app.config import RateLimitSettings
from tenancy.principal import Principal, PrincipalKind


class Policy(StrEnum):
    """The budgets, named as they appear in the RateLimit headers and RATE_LIMITED errors."""

    WORKSPACE = "workspace"  # everything a workspace's callers do, from its plan
    USER = "user"  # one user: a share of the workspace budget, or their own outside one
    KEY = "key"  # one secret API key: a share of the workspace budget
    VISITOR = "visitor"  # one widget visitor (publishable key + visitor id or client IP)
    ANSWERS = "answers"  # answer generation, from the plan's lower budget
    IP = "ip"  # callers without credentials, and failed authentication, per client IP


@dataclass(frozen=True, slots=True)
class Bucket:
    """One budget a request draws from."""

    policy: Policy
    key: str
    limit: int
    window_s: int
    cost: int


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """A workspace's budgets per window (from its plan)."""

    api_per_window: int
    answers_per_window: int
    concurrent_model_calls: int
    window_s: int


@dataclass(frozen=True, slots=True)
class BucketState:
    """A bucket after the decision: what the RateLimit headers report."""

    policy: Policy
    limit: int
    window_s: int
    remaining: int
    reset_s: int


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one request; a refused request took nothing from any bucket."""

    allowed: bool
    buckets: tuple[BucketState, ...]
    retry_after_s: int = 0
    refused_by: Policy | None = None
    local: bool = False  # decided by the in-process fallback while Redis was unreachable
    blocked_s: float = 0.0  # how long the refusing budget cannot admit even one point

    @property
    def refused_bucket(self) -> BucketState | None:
        """The bucket that refused the request (the one that frees up last)."""
        return next((b for b in self.buckets if b.policy == self.refused_by), None)


@lru_cache(maxsize=4096)  # built for every request; formatting a UUID is not free
def workspace_tag(prefix: str, workspace_id: uuid.UUID) -> str:
    """The key prefix of everything the limiter keeps for one workspace."""
    return f"{prefix}{{ws:{workspace_id}}}"


def ip_bucket(prefix: str, ip: str | None, settings: RateLimitSettings, cost: int = 1) -> Bucket:
    """The per-client-IP budget of callers without (valid) credentials."""
    return Bucket(
        Policy.IP,
        f"{prefix}{{ip:{ip or 'unknown'}}}:rl:ip",
        settings.anonymous_per_window,
        settings.window_s,
        cost,
    )


def _share(limit: int, share: float) -> int:
    return max(1, math.ceil(limit * share))


def buckets_for(
    principal: Principal,
    limits: PlanLimits | None,
    settings: RateLimitSettings,
    prefix: str,
    *,
    points: int,
    answers: int = 0,
) -> list[Bucket]:
    """The buckets a request of `points` (and `answers` answer generations) is charged to.

    `limits` are the workspace's plan limits; None when the caller has no workspace.
    """
    workspace_id = principal.workspace_id
    if workspace_id is None or limits is None:
        if principal.kind is PrincipalKind.USER and principal.user_id is not None:
            key = f"{prefix}{{user:{principal.user_id}}}:rl:user"
            return [Bucket(Policy.USER, key, settings.user_per_window, settings.window_s, points)]
        return [ip_bucket(prefix, principal.ip, settings, points)]
    tag = workspace_tag(prefix, workspace_id)
    window = limits.window_s
    buckets = [Bucket(Policy.WORKSPACE, f"{tag}:rl:api", limits.api_per_window, window, points)]
    share = settings.principal_share
    if principal.kind is PrincipalKind.USER and principal.user_id and share < 1:
        limit = _share(limits.api_per_window, share)
        key = f"{tag}:rl:user:{principal.user_id}"
        buckets.append(Bucket(Policy.USER, key, limit, window, points))
    elif principal.kind is PrincipalKind.SECRET_KEY and principal.key_id and share < 1:
        limit = _share(limits.api_per_window, share)
        key = f"{tag}:rl:key:{principal.key_id}"
        buckets.append(Bucket(Policy.KEY, key, limit, window, points))
    elif principal.kind in (PrincipalKind.PUBLISHABLE_KEY, PrincipalKind.VISITOR):
        visitor = principal.visitor_id or f"ip:{principal.ip or 'unknown'}"
        key = f"{tag}:rl:visitor:{principal.key_id}:{visitor}"
        buckets.append(
            Bucket(Policy.VISITOR, key, settings.visitor_per_window, settings.window_s, points)
        )
    if answers:
        buckets.append(
            Bucket(Policy.ANSWERS, f"{tag}:rl:answers", limits.answers_per_window, window, answers)
        )
    return buckets


def is_widget(principal: Principal) -> bool:
    """Widget callers: held to persisted operations, and refused while Redis is unreachable."""
    return principal.kind in (PrincipalKind.PUBLISHABLE_KEY, PrincipalKind.VISITOR)
