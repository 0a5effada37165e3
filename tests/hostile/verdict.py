"""Judging one hostile attempt: how it ended, and whether it ended cleanly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.support.graphql import Result

# Expected refusals: the caller is wrong, nothing broke.
CLEAN_CODES = {
    "NOT_FOUND",
    "FORBIDDEN",
    "VALIDATION",
    "UNAUTHENTICATED",
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_REQUEST",
    "CONFLICT",
    "PERSISTED_QUERY_NOT_IN_LIST",
    "UNAVAILABLE",
}
# Signs of an unhandled exception or internals in a response.
_INTERNALS = re.compile(
    r"Traceback|File \"|/site-packages/|\.py\", line|INTERNAL_SERVER_ERROR|asyncpg|sqlalchemy",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """How an attempt ended: an error code, `null` (nothing found) or `data`."""

    outcome: str
    problems: tuple[str, ...]


def judge(result: Result, text: str, field: str, allowed: set[str] = CLEAN_CODES) -> Verdict:
    """Check status, error shape and internals; return the outcome for the tally."""
    problems: list[str] = []
    errors: list[dict[str, Any]] = result.body.get("errors") or []
    codes = [str((e.get("extensions") or {}).get("code")) for e in errors]
    # 503 UNAVAILABLE is the documented answer while Redis is unreachable (answer budgets
    # cannot be charged); a busy test machine makes Redis miss its 40 ms deadline now and then.
    unavailable = result.status == 503 and codes and set(codes) == {"UNAVAILABLE"}
    if result.status >= 500 and not unavailable:
        problems.append(f"status {result.status}")
    if _INTERNALS.search(text):
        problems.append("internals in the response")
    for code in codes:
        if code not in allowed:
            problems.append(f"error code {code}")
    if errors:
        outcome = codes[0]
    else:
        data = result.body.get("data") or {}
        outcome = "null" if data.get(field) is None else "data"
    return Verdict(outcome, tuple(problems))
