"""Structured logs: request id (echoed back), trace id from traceparent, workspace and operation
on every line of a request, and no secrets."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from app.logging import ContextFilter, JsonFormatter, mask, scrub
from tests.support.factories import Factory
from tests.support.graphql import GraphQL

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


Lines = Callable[[], list[dict[str, object]]]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """Reads everything logged so far in the test, as parsed JSON lines, formatted by the same
    filter and formatter production uses."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def test_request_id_is_echoed_or_generated(http: httpx.AsyncClient) -> None:
    given = await http.get("/health", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    fresh = await http.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    hostile = await http.get("/health", headers={"x-request-id": "a b\nc" + "x" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])


async def test_every_line_of_a_request_carries_its_context_and_no_secret(
    factory: Factory, gql: GraphQL, json_lines: Lines
) -> None:
    tenant = await factory.tenant("Logs Co")
    invite = await tenant.gql.op(
        "InviteMember",
        {"input": {"email": "someone@example.com", "role": "MEMBER"}},
        **{"x-request-id": "req-invite-42", "traceparent": TRACEPARENT},
    )
    token = invite.data["inviteMember"]["token"]
    assert token
    secret = (
        await tenant.gql.op("CreateSecretKey", {"input": {"name": "ci", "role": "MEMBER"}})
    ).data["createSecretKey"]["key"]
    logging.getLogger("test").warning("a careless line with %s inside", secret)

    lines = json_lines()
    mine = [line for line in lines if line.get("request_id") == "req-invite-42"]
    # The service's line about the invitation and the access log line, at least.
    assert len(mine) >= 2, lines
    for line in mine:
        assert line["trace_id"] == TRACE
        assert line["operation"] == "InviteMember"
        assert line["workspace_id"]
    assert any(line.get("invitation_token") == "[redacted]" for line in mine)
    access = [line for line in mine if line["logger"] == "parley.http"]
    assert access and access[0]["status"] == 200 and access[0]["message"] == "POST /graphql 200"
    everything = "\n".join(json.dumps(line) for line in lines)
    assert token not in everything
    assert secret not in everything
    assert tenant.owner.token not in everything


async def test_invalid_traceparent_starts_a_new_trace(
    http: httpx.AsyncClient, json_lines: Lines
) -> None:
    await http.get("/health", headers={"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"})
    line = next(x for x in json_lines() if x.get("logger") == "parley.http")
    assert line["trace_id"] != "0" * 32
    assert re.fullmatch(r"[0-9a-f]{32}", str(line["trace_id"]))


def test_masking_rules() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    assert jwt not in mask(f"token={jwt}")
    assert "Bearer" not in mask("Authorization: Bearer abcdefghijklmnop")
    assert mask("rt_" + "a" * 30) == "[redacted]"
    assert scrub("password", "hunter2hunter2") == "[redacted]"
    assert scrub("input_tokens", 42) == 42  # counts are not secrets
    assert scrub("origin", "https://shop.example.com") == "https://shop.example.com"
