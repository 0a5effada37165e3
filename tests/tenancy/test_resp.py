"""The limiter's lean Redis connection, against a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from app.devstack.redis import LocalRedis
from tenancy.ratelimit.resp import NoScriptError, RespConnection, RespError, pack, parse


def test_replies_are_parsed_only_once_complete() -> None:
    reply = b"*4\r\n:1\r\n$3\r\nabc\r\n$-1\r\n+OK\r\n"
    assert parse(reply) == ([1, b"abc", None, b"OK"], len(reply))
    for cut in range(1, len(reply)):
        assert parse(reply[:cut]) is None  # a reply split across reads waits for the rest
    error, end = parse(b"-NOSCRIPT No matching script.\r\n") or (None, 0)
    assert isinstance(error, NoScriptError) and end == 31
    assert pack(["EVALSHA", "ab", 2, b"k"]) == (
        b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n2\r\n$1\r\nk\r\n"
    )


@pytest.fixture
def redis_with_password() -> Iterator[tuple[LocalRedis, str]]:
    server = LocalRedis()
    server.start()
    try:
        yield server, "s3cret:with/odd chars"
    finally:
        server.stop()


async def test_commands_pipeline_on_one_connection_with_auth_and_database(
    redis_with_password: tuple[LocalRedis, str],
) -> None:
    server, password = redis_with_password
    admin = Redis(port=server.port)
    await admin.config_set("requirepass", password)
    await admin.aclose()
    quoted = password.replace(":", "%3A").replace("/", "%2F").replace(" ", "%20")
    connection = RespConnection(f"redis://:{quoted}@127.0.0.1:{server.port}/3", 1.0)
    try:
        replies = await asyncio.gather(*(connection.call("ECHO", str(i)) for i in range(200)))
        assert replies == [str(i).encode() for i in range(200)]
        await connection.call("SET", "k", "v")
        check = Redis(port=server.port, password=password, db=3)
        assert await check.get("k") == b"v"  # AUTH and SELECT happened
        await check.aclose()
        with pytest.raises(RespError):
            await connection.call("NO-SUCH-COMMAND")

        # A caller that gives up does not shift the replies of the others.
        slow = asyncio.ensure_future(connection.call("ECHO", "abandoned"))
        await asyncio.sleep(0)
        slow.cancel()
        assert await connection.call("ECHO", "next") == b"next"
    finally:
        await connection.close()


async def test_a_lost_connection_fails_its_callers_and_reopens() -> None:
    server = LocalRedis()
    server.start()
    connection = RespConnection(server.url, 1.0)
    try:
        assert await connection.call("PING") == b"PONG"
        server.stop()
        with pytest.raises(ConnectionError):
            await connection.call("PING")
        server.start()
        assert await connection.call("PING") == b"PONG"
    finally:
        await connection.close()
        server.stop()
