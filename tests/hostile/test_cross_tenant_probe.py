"""Workspace B walks the whole schema with workspace A's ids and cursors and gets nothing.

Operations are generated from the live schema: every query and mutation field with an ID
argument (directly or inside an input object) and every connection (`after`), called with each
of A's ids of every type (so both matching and mismatched types) and each of A's cursors, as
B's owner and as B's secret key; the widget's operations are called the same way as B's
publishable key and as a visitor of B's widget. Nothing of A may appear in any response, A's
rows must be byte-for-byte unchanged, and every refusal must carry a clean error code.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
import orjson
from graphql import parse, validate

from app.graphql.node import from_global_id
from tests.billing.conftest import Billing
from tests.hostile.population import Population, harvest, populate
from tests.hostile.schema_walk import Overrides, live_schema, nested_connections, probes
from tests.hostile.snapshot import snapshot
from tests.hostile.verdict import judge
from tests.support.ai import Stack
from tests.support.factories import PASSWORD
from tests.support.graphql import GraphQL, operation

# Types A must own for the probe to mean something: every domain the schema exposes.
EXPECTED_TYPES = {
    "Workspace", "User", "Member", "Invitation", "ApiKey", "AuditEvent", "Document", "Chunk",
    "FaqEntry", "Conversation", "Message", "Lead", "BillingSubscription", "Invoice", "Payment",
}  # fmt: skip
# Widget operations carrying ids, with where the id goes.
WIDGET_PROBES = {
    "WidgetConversation": ("conversation", lambda v: {"id": v}),
    "WidgetMessage": ("message", lambda v: {"id": v}),
    "WidgetAsk": ("ask", lambda v: {"input": {"question": "Probe?", "conversationId": v}}),
    "SubmitLead": (
        "submitLead",
        lambda v: {"input": {"email": "probe@example.com", "consent": True, "conversationId": v}},
    ),
}


class Tally:
    """Attempts per probe, outcomes, and everything that went wrong."""

    def __init__(self, a: Population) -> None:
        self.a = a
        self.attempts: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.by_probe: dict[str, Counter[str]] = {}
        self.failures: list[str] = []

    async def attempt(
        self, label: str, client: GraphQL, document: str, variables: dict[str, Any], field: str
    ) -> str:
        """Send one attempt and judge it."""
        result = await client.query(document, variables)
        text = orjson.dumps(result.body).decode()
        verdict = judge(result, text, field)
        leaks = self.a.leaks(text)
        self.attempts[label] += 1
        self.outcomes[verdict.outcome] += 1
        self.by_probe.setdefault(label, Counter())[verdict.outcome] += 1
        if verdict.problems or leaks:
            self.failures.append(f"{label} {variables}: {verdict.problems} leaks={leaks} {text}")
        return verdict.outcome


def _refresh_tokens(tokens: list[str]) -> Any:
    def take() -> str:
        return tokens.pop()

    return take


async def test_workspace_b_reaches_nothing_of_workspace_a(
    hostile: Stack, hostile_billing: Billing, superuser: asyncpg.Connection
) -> None:
    started = time.monotonic()
    a = await populate(hostile, hostile_billing, "zqxa" + uuid.uuid4().hex[:6])
    b = await populate(hostile, hostile_billing, "vkjb" + uuid.uuid4().hex[:6])
    schema = await live_schema(b.tenant.gql)
    await harvest(a, schema)
    await harvest(b, schema)
    assert set(a.ids) >= EXPECTED_TYPES, EXPECTED_TYPES - set(a.ids)
    assert a.cursors
    a_ids = [i for _, i in a.all_ids]
    a_users = [from_global_id(i)[1] for i in a.ids["User"]]
    a_ws = from_global_id(a.tenant.id)[1]
    before = await snapshot(superuser, a_ws, a_users)
    setup_s = time.monotonic() - started

    # Fresh refresh tokens of B's owner: refreshing rotates them, and replaying one would
    # (rightly) end the session family the probe keeps using.
    generated = probes(schema, {})
    refreshes = sum(1 for p in generated if p.field == "refreshSession") * len(a_ids) * 2
    tokens: list[str] = []
    for _ in range(refreshes):
        logged_in = await hostile.gql.op(
            "LogIn", {"input": {"email": b.tenant.owner.email, "password": PASSWORD}}
        )
        tokens.append(logged_in.data["logIn"]["refreshToken"])
    overrides: Overrides = {
        "LogInInput.email": b.tenant.owner.email,
        "LogInInput.password": PASSWORD,
        "RefreshSessionInput.refreshToken": _refresh_tokens(tokens),
        "SubmitLeadInput.email": "probe@example.com",
        "SubmitLeadInput.consent": True,
        "AskInput.question": "What does the probe find?",
        "RateAnswerInput.helpful": True,
        "changeMemberRole.role": "MEMBER",
        "deleteWorkspace.confirmSlug": "not-the-slug",
    }
    # Queries first; session mutations last so nothing they do can cut the probe short.
    ordered = sorted(
        probes(schema, overrides),
        key=lambda p: (p.root == "mutation", p.field in ("logIn", "refreshSession"), p.label),
    )
    # Every generated document is valid, so refusals below come from the server's rules.
    for document in {p.document for p in ordered} | {
        n.document for n in nested_connections(schema, overrides)
    }:
        assert not validate(schema, parse(document)), document
    tally = Tally(a)
    principals = {"owner": b.tenant.gql, "secret": b.secret}
    cursor_values = sorted(a.cursors) + a_ids
    probe_started = time.monotonic()
    for probe in ordered:
        values = a_ids if probe.slot.kind == "id" else cursor_values
        for who, client in principals.items():
            for value in values:
                await tally.attempt(
                    f"{probe.label} as {who}",
                    client,
                    probe.document,
                    probe.variables(value, overrides),
                    probe.field,
                )

    # Connections below a root field that needs ids: B's own ids get B to the connection,
    # A's cursor is the only foreign value.
    own_ids = [i for _, i in b.all_ids]
    for nested in nested_connections(schema, overrides):
        for who, client in principals.items():
            roots: dict[str, str] = {}
            for root_arg in nested.root_ids:
                for own in own_ids:
                    variables = {**nested.base_variables, root_arg: own}
                    found = await client.query(nested.document, variables)
                    if not found.body.get("errors") and any(found.body["data"].values()):
                        roots[root_arg] = own
                        break
            if len(roots) != len(nested.root_ids):
                continue  # this principal cannot open the root at all (checked below)
            after = f"{nested.path.split('.')[1]}_after"
            for value in cursor_values:
                await tally.attempt(
                    f"query {nested.path}(after) as {who}",
                    client,
                    nested.document,
                    {**nested.base_variables, **roots, after: value},
                    nested.path.split(".")[0],
                )

    # The widget's own operations (all a publishable key may run), as the key and a visitor.
    widget_clients = {"publishable key": b.widget.page(), "visitor": b.visitor}
    for name, (field, variables_for) in WIDGET_PROBES.items():
        for who, client in widget_clients.items():
            for value in a_ids:
                await tally.attempt(
                    f"widget {name} as {who}", client, operation(name), variables_for(value), field
                )
    probe_s = time.monotonic() - probe_started

    total = sum(tally.attempts.values())
    print(f"\ncross-tenant probe: setup {setup_s:.1f} s, {total} attempts in {probe_s:.1f} s")
    print(
        f"A's ids: {len(a_ids)} of {len({t for t, _ in a.all_ids})} types; "
        f"A's cursors: {len(a.cursors)}"
    )
    for label in sorted(tally.attempts):
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(tally.by_probe[label].items()))
        print(f"  {tally.attempts[label]:5d}  {label}  [{outcomes}]")
    print(f"outcomes: {dict(sorted(tally.outcomes.items()))}")

    assert not tally.failures, "\n".join(tally.failures[:20])
    assert total >= 1000
    # Every generated field was reached by at least one principal.
    assert {p.label.split("(")[0] for p in ordered} <= {
        label.split("(")[0] for label in tally.attempts
    }
    after_snapshot = await snapshot(superuser, a_ws, a_users)
    assert after_snapshot == before

    # Controls: the same generated queries find A's objects for A (so "nothing" above means
    # isolation, not broken documents), and B's credentials still work.
    found: Counter[str] = Counter()
    for probe in ordered:
        if probe.root != "query" or probe.slot.kind != "id":
            continue
        for value in a_ids:
            result = await a.tenant.gql.query(probe.document, probe.variables(value, overrides))
            if not result.body.get("errors") and result.body["data"][probe.field] is not None:
                found[probe.field] += 1
    assert set(found) == {p.field for p in ordered if p.root == "query" and p.slot.kind == "id"}
    assert (await b.tenant.gql.op("CurrentWorkspace")).data["workspace"]["id"] == b.tenant.id
    assert (await b.secret.op("CurrentWorkspace")).data["workspace"]["id"] == b.tenant.id
