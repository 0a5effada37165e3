"""Verified access tokens are remembered until they expire, and only those."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from app.config import AuthSettings
from tenancy.security import AccessTokens

SECRET = "test-secret-" + "s" * 40


def _tokens(ttl_s: int = 900) -> AccessTokens:
    return AccessTokens(AuthSettings(access_token_ttl_s=ttl_s), SECRET)


def test_a_verified_token_is_answered_again_with_its_claims() -> None:
    tokens = _tokens()
    user, session = uuid.uuid4(), uuid.uuid4()
    token, _ = tokens.issue(user, session)
    first = tokens.decode(token)
    assert first is not None and first.user_id == user and first.session_id == session
    assert tokens.decode(token) is first


def test_tampered_and_foreign_tokens_are_refused_even_next_to_a_cached_one() -> None:
    tokens = _tokens()
    token, _ = tokens.issue(uuid.uuid4(), uuid.uuid4())
    assert tokens.decode(token) is not None
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert tokens.decode(f"{header}.{payload}.{flipped}") is None
    foreign, _ = AccessTokens(AuthSettings(), "another-secret-" + "o" * 40).issue(
        uuid.uuid4(), uuid.uuid4()
    )
    assert tokens.decode(foreign) is None
    assert tokens.decode(token) is not None


async def test_a_cached_token_is_refused_once_it_expires() -> None:
    tokens = _tokens(ttl_s=1)
    token, expires = tokens.issue(uuid.uuid4(), uuid.uuid4())
    assert tokens.decode(token) is not None
    # The token's exp claim has whole seconds: wait until it is certainly past.
    await asyncio.sleep((expires - dt.datetime.now(dt.UTC)).total_seconds() + 1.1)
    assert tokens.decode(token) is None
    assert tokens.decode(token) is None


def test_the_cache_is_bounded() -> None:
    tokens = AccessTokens(AuthSettings(), SECRET, cache_size=2)
    issued = [tokens.issue(uuid.uuid4(), uuid.uuid4())[0] for _ in range(3)]
    first = [tokens.decode(token) for token in issued]
    assert all(claims is not None for claims in first)
    # The two newest are answered from the cache (the same claims object); the oldest was
    # pushed out and is verified afresh (equal claims, a new object).
    assert tokens.decode(issued[2]) is first[2]
    again = tokens.decode(issued[0])
    assert again == first[0]
    assert again is not first[0]
