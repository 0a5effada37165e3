"""Callers refused moments ago, refused again before any work.

A caller flooding past its budget would otherwise cost a database round trip (authentication)
and a Redis call per request, taking CPU from every other tenant on the process. When Redis
says a budget cannot admit even one point for the next few seconds, the process remembers the
credential that was refused until then and answers its requests with the same RATE_LIMITED
refusal straight away. The entry never outlives the refusal Redis decided, so it refuses nothing
Redis would have admitted (a teammate sharing the workspace budget finds out on their own).

It also remembers, for each refused credential, until when its Retry-After runs (whatever
refused it): until then the credential's queries are decided before they execute, never
while they execute (`may_overlap`, app/graphql/protection.py), so a caller past its budget
cannot make the API do work it will not be given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections import OrderedDict
from typing import NamedTuple

from tenancy.ratelimit.policy import Decision


def credential_key(bearer: str | None, workspace: str | None, ip: str | None) -> str:
    """Who a request claims to be, before it is checked: its token and workspace header, or
    its client IP without a token. Hashed, so no token is kept in memory."""
    raw = f"b:{bearer}\0{workspace or ''}" if bearer else f"ip:{ip}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


class _Refusal(NamedTuple):
    retry_until: float  # until then, the credential's queries are decided before they run
    blocked_until: float  # until then, refused outright (0: a refusal not to repeat)
    decision: Decision


class RefusalCache:
    """Refusals per credential key, each until its budget has room for one point again."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, _Refusal] = OrderedDict()
        self._max = max_entries

    def remember(self, key: str, decision: Decision, now: float | None = None) -> None:
        """Keep a refusal. Every refusal counts for `may_overlap`; `check` repeats only those
        whose budget Redis blocked for a while: refusals of the local fallback are estimates,
        and Redis may be back before they expire."""
        if decision.allowed:
            return
        now = time.monotonic() if now is None else now
        retry_until = now + max(decision.retry_after_s, decision.blocked_s)
        if not decision.local and decision.blocked_s > 0:
            self._entries[key] = _Refusal(retry_until, now + decision.blocked_s, decision)
        elif (previous := self._entries.get(key)) is not None and previous.blocked_until > now:
            # A refusal not to repeat leaves a standing one standing.
            self._entries[key] = previous._replace(
                retry_until=max(previous.retry_until, retry_until)
            )
        else:
            self._entries[key] = _Refusal(retry_until, 0.0, decision)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def may_overlap(self, key: str, now: float | None = None) -> bool:
        """False while a refusal of this credential is younger than its Retry-After: its
        requests are then decided before they do any work."""
        entry = self._entries.get(key)
        if entry is None:
            return True
        if entry.retry_until <= (time.monotonic() if now is None else now):
            del self._entries[key]  # outlived its Retry-After, so its block too
            return True
        return False

    def check(self, key: str, now: float | None = None) -> Decision | None:
        """The refusal still standing for this credential, with its times brought up to date."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = time.monotonic() if now is None else now
        if entry.blocked_until <= now:
            if entry.blocked_until:
                self._entries[key] = entry._replace(blocked_until=0.0)  # lapsed: never again
            return None
        decision = entry.decision
        left = entry.blocked_until - now
        retry = max(1, math.ceil(left))
        buckets = tuple(
            dataclasses.replace(b, remaining=0, reset_s=retry)
            if b.policy == decision.refused_by
            else b
            for b in decision.buckets
        )
        return dataclasses.replace(decision, buckets=buckets, retry_after_s=retry, blocked_s=left)
