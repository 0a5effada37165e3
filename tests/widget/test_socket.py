"""Widget credentials over the WebSocket: held to the widget's allowlist as over HTTP."""

from __future__ import annotations

import uuid

import orjson
from websockets.asyncio.client import connect

from app.graphql.node import to_global_id
from tests.support.ai import Stack, serve
from tests.support.factories import make_widget
from tests.support.graphql import operation


async def test_a_visitor_socket_runs_only_allowlisted_subscriptions(extractive: Stack) -> None:
    widget = await make_widget(extractive.factory)
    token = str((await widget.session())["visitorToken"])
    missing = to_global_id("Message", uuid.uuid4())
    async with (
        serve(extractive) as address,
        connect(
            f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"], origin=widget.origin
        ) as ws,
    ):
        init = {"authorization": f"Bearer {token}"}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        refused: dict[str, object] = {
            "query": operation("AnswerStream"),
            "variables": {"messageId": missing},
        }
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": refused}).decode())
        reply = orjson.loads(await ws.recv())
        assert (reply["id"], reply["type"]) == ("1", "error"), reply
        assert reply["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        # The widget's own subscription is let through (and finds no such message).
        allowed = {"query": operation("WidgetAnswer"), "variables": {"messageId": missing}}
        await ws.send(orjson.dumps({"id": "2", "type": "subscribe", "payload": allowed}).decode())
        reply = orjson.loads(await ws.recv())
        assert (reply["id"], reply["type"]) == ("2", "next"), reply
        errors = reply["payload"]["errors"]
        assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
            ("No such answer.", "NOT_FOUND")
        ]
