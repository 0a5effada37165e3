"""A workspace filled with real data in every domain, and what of it a probe must never see:
its global ids, cursors and a marker string woven into every text it owns."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLSchema, is_required_argument

from app.errors import ValidationFailed
from app.graphql.node import from_global_id
from tests.billing.conftest import Billing
from tests.billing.helpers import subscribe
from tests.hostile.schema_walk import selection
from tests.support.ai import Stack
from tests.support.factories import Tenant, Widget
from tests.support.graphql import GraphQL
from tests.support.knowledge import add_document

# Catalogue rows every workspace sees: not a tenant's data.
SHARED_TYPES = {"Plan", "TopUpPack"}


@dataclass
class Population:
    """One populated workspace and the handles a probe uses."""

    marker: str
    tenant: Tenant
    member_email: str
    secret: GraphQL  # a secret key (ADMIN) of the workspace
    widget: Widget
    visitor: GraphQL  # a visitor session of the widget
    ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    cursors: set[str] = field(default_factory=set)

    @property
    def all_ids(self) -> list[tuple[str, str]]:
        """(type name, global id) of every tenant-owned object found, sorted."""
        return sorted((t, i) for t, ids in self.ids.items() for i in ids if t not in SHARED_TYPES)

    def leaks(self, text: str) -> list[str]:
        """The pieces of this workspace's data that occur in `text`."""
        found = [self.marker] if self.marker in text.lower() else []
        found += [i for _, i in self.all_ids if i in text]
        found += [raw_uuid(i) for _, i in self.all_ids if raw_uuid(i) in text]
        found += [c for c in self.cursors if c in text]
        return found


def raw_uuid(value: str) -> str:
    """The row id of a global id, or the value itself when it is a bare uuid (chunk ids)."""
    try:
        return str(from_global_id(value)[1])
    except ValidationFailed:
        return str(uuid.UUID(value))


def _type_of(key: str, value: str) -> str | None:
    """The type a global id names; bare uuids in `chunkId` fields are chunks."""
    try:
        return from_global_id(value)[0]
    except ValidationFailed:
        pass
    try:
        uuid.UUID(value)
    except ValueError:
        return None
    return key.removesuffix("Id").title() if key != "id" else None


def collect(population: Population, value: Any, key: str = "") -> None:
    """Record every global id and cursor in a response."""
    if isinstance(value, dict):
        for k, v in value.items():
            collect(population, v, k)
    elif isinstance(value, list):
        for v in value:
            collect(population, v, key)
    elif isinstance(value, str):
        if key in ("cursor", "startCursor", "endCursor"):
            population.cursors.add(value)
        elif key == "id" or key.endswith("Id"):
            type_name = _type_of(key, value)
            if type_name:
                population.ids[type_name].add(value)


async def populate(stack: Stack, billing: Billing, marker: str) -> Population:
    """A workspace with members, an invitation, keys, a widget, documents and chunks, an FAQ
    entry, conversations and answers, a lead, a paid subscription with invoice and payment;
    `marker` is in every text it owns."""
    factory = stack.factory
    owner = await factory.account(f"{marker}owner")
    tenant = await factory.tenant(f"{marker} Works", owner=owner)
    gql = tenant.gql

    member = await factory.account(f"{marker}member")
    token = (
        await gql.op("InviteMember", {"input": {"email": member.email, "role": "MEMBER"}})
    ).data["inviteMember"]["token"]
    assert (await factory.gql.as_(member.token).op("AcceptInvitation", {"token": token})).data
    invited = f"{marker}-invitee@example.com"
    assert (await gql.op("InviteMember", {"input": {"email": invited, "role": "ADMIN"}})).data

    secret_key = (
        await gql.op("CreateSecretKey", {"input": {"name": f"{marker} ci", "role": "ADMIN"}})
    ).data["createSecretKey"]["key"]
    origin = f"https://{marker}.example.com"
    created = (
        await gql.op(
            "CreatePublishableKey",
            {"input": {"name": f"{marker} site", "allowedOrigins": [origin]}},
        )
    ).data["createPublishableKey"]
    widget = Widget(tenant, created["key"], created["apiKey"]["id"], origin)
    assert (
        await gql.op(
            "UpdateWidgetConfig",
            {"keyId": widget.key_id, "input": {"title": f"{marker} help", "leadCapture": True}},
        )
    ).data

    await add_document(
        tenant,
        f"# {marker} returns\n\nReturns of {marker} gadgets are accepted within 30 days.\n\n"
        f"## {marker} shipping\n\nShipping of {marker} parcels takes three days.\n",
        title=f"{marker} policy",
    )
    await add_document(tenant, f"{marker} opening hours are nine to five.", fmt="TEXT")
    assert (
        await gql.op(
            "CreateFaqEntry",
            {"input": {"question": f"Do {marker} gadgets ship abroad?", "answer": "Yes."}},
        )
    ).data
    await stack.drain()

    visitor = widget.visitor(str((await widget.session())["visitorToken"]))
    asked = (
        await visitor.op("WidgetAsk", {"input": {"question": f"How are {marker} returns done?"}})
    ).data["ask"]
    conversation = asked["conversation"]["id"]
    assert (
        await gql.op("Ask", {"input": {"question": f"How long does {marker} shipping take?"}})
    ).data
    await stack.drain()
    assert (
        await visitor.op(
            "SubmitLead",
            {
                "input": {
                    "email": f"{marker}-lead@example.com",
                    "consent": True,
                    "name": f"{marker} Buyer",
                    "conversationId": conversation,
                }
            },
        )
    ).data["submitLead"]
    await subscribe(tenant, billing)

    return Population(marker, tenant, member.email, gql.as_(secret_key), widget, visitor)


async def harvest(population: Population, schema: GraphQLSchema) -> None:
    """Read everything the owner can reach (generated from the schema) and record every id and
    cursor in it; then each conversation's messages, for their ids and cursors."""
    query = schema.query_type
    assert query is not None
    gql = population.tenant.gql
    for name, root_field in query.fields.items():
        if any(is_required_argument(a) for a in root_field.args.values()):
            continue
        args = "(first: 50)" if "first" in root_field.args else ""
        result = await gql.query(
            f"query Harvest {{ {name}{args} {selection(root_field.type, 5, 50)} }}"
        )
        collect(population, result.body.get("data"))
    for conversation in list(population.ids["Conversation"]):
        result = await gql.query(
            "query Harvest($id: ID!) { conversation(id: $id) { messages(first: 50) "
            f"{selection(schema.get_type('MessageConnection'), 4)} }} }}",  # type: ignore[arg-type]
            {"id": conversation},
        )
        collect(population, result.body.get("data"))
    hits = await gql.query(
        "query Harvest($q: String!) { search(query: $q, k: 20) { chunkId documentId } }",
        {"q": f"{population.marker} returns shipping opening hours"},
    )
    collect(population, hits.data)
    population.ids["Workspace"].add(population.tenant.id)
