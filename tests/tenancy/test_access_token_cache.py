"""Verified access and visitor tokens are remembered until they expire, and only those
(tenancy/security.py, VerifiedTokens)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from app.config import AuthSettings
from tenancy.security import VISITOR_PREFIX, AccessTokens, VisitorTokens

SECRET = "test-secret-" + "s" * 40
OTHER_SECRET = "another-secret-" + "o" * 40


class Kind:
    """One kind of signed token: how to make its issuer and issue one."""

    def __init__(self, make: Callable[[str, int, int], Any], issue: Callable[[Any], Any]):
        self.make, self._issue = make, issue

    def issuer(self, *, secret: str = SECRET, ttl_s: int = 900, cache_size: int = 4096) -> Any:
        return self.make(secret, ttl_s, cache_size)

    def issue(self, tokens: Any) -> tuple[str, dt.datetime]:
        token, expires = self._issue(tokens)
        return str(token), expires


ACCESS = Kind(
    lambda secret, ttl, size: AccessTokens(AuthSettings(access_token_ttl_s=ttl), secret, size),
    lambda tokens: tokens.issue(uuid.uuid4(), uuid.uuid4()),
)
VISITOR = Kind(
    lambda secret, ttl, size: VisitorTokens(AuthSettings(), secret, ttl, size),
    lambda tokens: tokens.issue(
        uuid.uuid4(), uuid.uuid4(), "v1", "https://shop.example.com", identified=False
    ),
)
KINDS = pytest.mark.parametrize("kind", [ACCESS, VISITOR], ids=["access", "visitor"])


@KINDS
def test_a_verified_token_is_answered_again_with_its_claims(kind: Kind) -> None:
    tokens = kind.issuer()
    token, expires = kind.issue(tokens)
    first = tokens.decode(token)
    assert first is not None and first.expires_at == expires.replace(microsecond=0)
    assert tokens.decode(token) is first


@KINDS
def test_tampered_and_foreign_tokens_are_refused_even_next_to_a_cached_one(kind: Kind) -> None:
    tokens = kind.issuer()
    token, _ = kind.issue(tokens)
    assert tokens.decode(token) is not None
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert tokens.decode(f"{header}.{payload}.{flipped}") is None
    foreign, _ = kind.issue(kind.issuer(secret=OTHER_SECRET))
    assert tokens.decode(foreign) is None
    assert tokens.decode(token) is not None


def test_each_kind_refuses_the_other_even_once_cached() -> None:
    access, visitor = ACCESS.issuer(), VISITOR.issuer()
    access_token, _ = ACCESS.issue(access)
    visitor_token, _ = VISITOR.issue(visitor)
    assert access.decode(access_token) is not None
    assert visitor.decode(visitor_token) is not None
    assert visitor.decode(access_token) is None  # no visitor prefix
    assert visitor.decode(VISITOR_PREFIX + access_token) is None  # typ is "access"
    assert access.decode(visitor_token.removeprefix(VISITOR_PREFIX)) is None  # typ "visitor"


@KINDS
async def test_a_cached_token_is_refused_once_it_expires(kind: Kind) -> None:
    tokens = kind.issuer(ttl_s=1)
    token, expires = kind.issue(tokens)
    assert tokens.decode(token) is not None
    # The token's exp claim has whole seconds: wait until it is certainly past.
    await asyncio.sleep((expires - dt.datetime.now(dt.UTC)).total_seconds() + 1.1)
    assert tokens.decode(token) is None
    assert tokens.decode(token) is None


@KINDS
def test_the_cache_is_bounded(kind: Kind) -> None:
    tokens = kind.issuer(cache_size=2)
    issued = [kind.issue(tokens)[0] for _ in range(3)]
    first = [tokens.decode(token) for token in issued]
    assert all(claims is not None for claims in first)
    # The two newest are answered from the cache (the same claims object); the oldest was
    # pushed out and is verified afresh (equal claims, a new object).
    assert tokens.decode(issued[2]) is first[2]
    again = tokens.decode(issued[0])
    assert again == first[0]
    assert again is not first[0]
