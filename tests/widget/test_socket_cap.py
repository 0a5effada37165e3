"""Open WebSocket connections per widget visitor are capped (RATELIMIT_SOCKETS_PER_VISITOR,
3 by default), counted in Redis, freed when a socket closes; other visitors and other
workspaces keep connecting."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.config import Settings
from app.graphql.node import to_global_id
from tests.support.ai import Stack, ai_settings, make_stack, serve
from tests.support.factories import Widget, make_widget
from tests.support.graphql import operation
from tests.support.openai_server import FakeOpenAI

CAP = 3


async def _visitor(widget: Widget) -> str:
    return str((await widget.session())["visitorToken"])


@contextlib.asynccontextmanager
async def _socket(address: str, origin: str, token: str) -> AsyncIterator[ClientConnection]:
    async with connect(
        f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"], origin=origin
    ) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await ws.send(orjson.dumps(init).decode())
        yield ws


async def _acked(ws: ClientConnection) -> bool:
    try:
        return bool(orjson.loads(await ws.recv())["type"] == "connection_ack")
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4403
        assert "Too many open connections" in closed.rcvd.reason
        assert f"{CAP} at once" in closed.rcvd.reason
        return False


async def test_a_visitor_holds_at_most_the_cap_and_a_closed_socket_frees_its_seat(
    extractive: Stack,
) -> None:
    widget = await make_widget(extractive.factory)
    other_workspace = await make_widget(extractive.factory)
    token = await _visitor(widget)
    async with serve(extractive) as address, contextlib.AsyncExitStack() as open_sockets:
        held = [
            await open_sockets.enter_async_context(_socket(address, widget.origin, token))
            for _ in range(CAP)
        ]
        assert [await _acked(ws) for ws in held] == [True] * CAP
        async with _socket(address, widget.origin, token) as extra:
            assert await _acked(extra) is False
        # Another visitor of the same widget, and a visitor of another workspace, connect.
        async with _socket(address, widget.origin, await _visitor(widget)) as neighbour:
            assert await _acked(neighbour) is True
        async with _socket(
            address, other_workspace.origin, await _visitor(other_workspace)
        ) as stranger:
            assert await _acked(stranger) is True
        # Closing one socket frees its seat for the next.
        await held[0].close()
        await held[0].wait_closed()
        for _ in range(50):  # the server frees the seat as its handler ends
            async with _socket(address, widget.origin, token) as again:
                if await _acked(again):
                    break
        else:
            pytest.fail("the closed socket's seat was never freed")


async def test_starting_a_subscription_is_charged_to_the_visitor_budget(
    settings: Settings, openai_server: FakeOpenAI
) -> None:
    budget = 3
    tight = ai_settings(settings, openai_server.url, provider="openai", generation="extractive")
    tight = tight.model_copy(
        update={"ratelimit": tight.ratelimit.model_copy(update={"visitor_per_window": budget})}
    )
    async with make_stack(tight) as stack:
        widget = await make_widget(stack.factory)
        token = await _visitor(widget)
        missing = to_global_id("Message", uuid.uuid4())
        subscribe = {"query": operation("WidgetAnswer"), "variables": {"messageId": missing}}
        codes = []
        async with serve(stack) as address, _socket(address, widget.origin, token) as ws:
            assert await _acked(ws) is True
            for number in range(budget + 1):
                message = {"id": str(number), "type": "subscribe", "payload": subscribe}
                await ws.send(orjson.dumps(message).decode())
                reply = orjson.loads(await ws.recv())
                errors = (
                    reply["payload"] if reply["type"] == "error" else reply["payload"]["errors"]
                )
                codes.append(errors[0]["extensions"]["code"])
                if reply["type"] == "next":
                    assert orjson.loads(await ws.recv())["type"] == "complete"
        # The budget's subscriptions ran (and found no such answer); the next was refused.
        assert codes == ["NOT_FOUND"] * budget + ["RATE_LIMITED"]
