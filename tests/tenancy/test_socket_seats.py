"""Seats of open sockets (tenancy/ratelimit/sockets.py) against a real Redis: the cap per
caller, renewal, release, and what happens while Redis is unreachable."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from app.config import RateLimitSettings
from app.errors import RateLimited
from tenancy.principal import Principal, PrincipalKind
from tenancy.ratelimit.limiter import LimiterUnavailable, RateLimiter
from tenancy.ratelimit.sockets import socket_owner, take_seat

if TYPE_CHECKING:
    from tests.support.services import TestServices

SETTINGS = RateLimitSettings(sockets_per_visitor=2, sockets_per_caller=3)


@pytest.fixture
async def limiter(services: TestServices) -> AsyncIterator[RateLimiter]:
    made = RateLimiter(services.redis_url, SETTINGS, f"t{uuid.uuid4().hex[:8]}:")
    yield made
    await made.close()


def _visitor(workspace: uuid.UUID, visitor: str) -> Principal:
    return Principal(
        kind=PrincipalKind.VISITOR, workspace_id=workspace, key_id=uuid.uuid4(), visitor_id=visitor
    )


async def test_seats_are_capped_per_caller_renewed_and_released(limiter: RateLimiter) -> None:
    workspace = uuid.uuid4()
    visitor = _visitor(workspace, "v1")
    first = await take_seat(limiter, visitor, SETTINGS)
    second = await take_seat(limiter, visitor, SETTINGS)
    assert first is not None and second is not None
    with pytest.raises(RateLimited, match="a visitor may hold 2 at once"):
        await take_seat(limiter, visitor, SETTINGS)
    # The same visitor id in another workspace is another caller.
    assert await take_seat(limiter, _visitor(uuid.uuid4(), "v1"), SETTINGS) is not None
    assert await limiter.renew_slot(first.key, first.token, first.lease_ms) is True
    await first.release()
    assert await limiter.renew_slot(first.key, first.token, first.lease_ms) is False
    assert await take_seat(limiter, visitor, SETTINGS) is not None  # the freed seat


async def test_users_have_the_caller_cap_and_system_callers_are_not_counted(
    limiter: RateLimiter,
) -> None:
    user = Principal(kind=PrincipalKind.USER, user_id=uuid.uuid4())
    seats = [await take_seat(limiter, user, SETTINGS) for _ in range(3)]
    assert all(seat is not None for seat in seats)
    with pytest.raises(RateLimited, match="a caller may hold 3 at once"):
        await take_seat(limiter, user, SETTINGS)
    assert socket_owner(Principal(kind=PrincipalKind.SYSTEM), limiter.prefix) is None
    off = RateLimitSettings(enabled=False)
    assert await take_seat(limiter, user, off) is None


async def test_without_redis_widget_sockets_are_refused_and_others_let_in() -> None:
    settings = RateLimitSettings(redis_timeout_ms=50)
    down = RateLimiter("redis://127.0.0.1:1/0", settings, "t:")
    try:
        with pytest.raises(LimiterUnavailable):
            await take_seat(down, _visitor(uuid.uuid4(), "v"), settings)
        user = Principal(kind=PrincipalKind.USER, user_id=uuid.uuid4())
        assert await take_seat(down, user, settings) is None
    finally:
        await down.close()


async def test_a_lapsed_seat_is_taken_back_while_its_socket_stays_open(
    limiter: RateLimiter,
) -> None:
    """Redis lost the lease (a restart, a long stall): the renewal loop counts the open
    socket again under a new token instead of letting it go uncounted."""
    seat = await take_seat(limiter, _visitor(uuid.uuid4(), "v1"), SETTINGS)
    assert seat is not None
    seat = dataclasses.replace(seat, lease_ms=300)  # renewals every 0.1 s
    lost = seat.token
    await limiter.redis.delete(seat.key)
    keeper = asyncio.create_task(seat.keep())
    try:
        for _ in range(50):
            await asyncio.sleep(0.05)
            if seat.token != lost:
                break
        assert seat.token != lost
        assert await limiter.redis.zcard(seat.key) == 1
        assert await limiter.renew_slot(seat.key, seat.token, seat.lease_ms) is True
    finally:
        keeper.cancel()
        await seat.release()
