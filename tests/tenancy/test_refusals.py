"""The per-process memory of refused credentials."""

from __future__ import annotations

from tenancy.ratelimit.policy import BucketState, Decision, Policy
from tenancy.ratelimit.refusals import RefusalCache, credential_key


def refused(blocked_s: float) -> Decision:
    states = (
        BucketState(Policy.WORKSPACE, 10, 60, 0, 6),
        BucketState(Policy.USER, 5, 60, 3, 24),
    )
    return Decision(False, states, 6, Policy.WORKSPACE, blocked_s=blocked_s)


def test_a_refusal_stands_only_while_its_budget_is_blocked() -> None:
    cache = RefusalCache()
    key = credential_key("token", "ws", "192.0.2.1")
    cache.remember(key, refused(4.5), now=100.0)

    standing = cache.check(key, now=102.0)
    assert standing is not None
    assert not standing.allowed
    assert standing.retry_after_s == 3  # 2.5 s left, rounded up
    assert standing.buckets[0].reset_s == 3
    assert standing.buckets[1] == refused(4.5).buckets[1]
    assert cache.check(key, now=104.6) is None
    assert cache.check(key, now=103.0) is None  # dropped once expired


def test_only_blocked_refusals_are_kept_and_keys_differ_by_credential() -> None:
    cache = RefusalCache()
    admitted = Decision(True, (BucketState(Policy.WORKSPACE, 10, 60, 5, 30),))
    cache.remember("a", admitted, now=0.0)
    cache.remember("b", refused(0.0), now=0.0)  # a cheaper request would fit right away
    local = Decision(False, refused(5).buckets, 6, Policy.WORKSPACE, local=True, blocked_s=5)
    cache.remember("c", local, now=0.0)  # the fallback's estimate, not Redis's decision
    assert cache.check("a", now=0.1) is None
    assert cache.check("b", now=0.1) is None
    assert cache.check("c", now=0.1) is None

    assert credential_key("t", "ws1", None) != credential_key("t", "ws2", None)
    assert credential_key(None, None, "192.0.2.1") != credential_key(None, None, "192.0.2.2")
    assert "token" not in credential_key("token", None, None)


def test_the_cache_is_bounded() -> None:
    cache = RefusalCache(max_entries=2)
    for key in ("a", "b", "c"):
        cache.remember(key, refused(10), now=0.0)
    assert cache.check("a", now=1.0) is None
    assert cache.check("c", now=1.0) is not None


def test_every_refusal_stops_overlapping_decisions_until_its_retry_after() -> None:
    cache = RefusalCache()
    assert cache.may_overlap("a", now=0.0)
    cache.remember("a", Decision(True, refused(0).buckets), now=0.0)  # admitted: no change
    assert cache.may_overlap("a", now=0.0)
    # Refused although one point would fit (not kept by `check`): its queries are still
    # decided before they run, until Retry-After (6 s) has passed.
    cache.remember("a", refused(0.0), now=10.0)
    assert cache.check("a", now=10.1) is None
    assert not cache.may_overlap("a", now=15.9)
    assert cache.may_overlap("a", now=16.1)
    local = Decision(False, refused(5).buckets, 6, Policy.WORKSPACE, local=True, blocked_s=5)
    cache.remember("b", local, now=0.0)
    assert not cache.may_overlap("b", now=1.0)
