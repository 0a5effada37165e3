"""Test data made through the public GraphQL API, unique per call so tests never collide."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.support.graphql import GraphQL

PASSWORD = "correct horse battery"


@dataclass
class Account:
    """A signed-up user and their tokens."""

    user_id: str
    email: str
    token: str
    refresh: str


@dataclass
class Tenant:
    """A workspace with its owner."""

    id: str
    slug: str
    owner: Account
    gql: GraphQL  # the owner's client scoped to the workspace


class Factory:
    """Makes accounts, workspaces, members and keys."""

    def __init__(self, gql: GraphQL) -> None:
        self.gql = gql

    async def account(self, name: str = "user") -> Account:
        """Sign up a new user with a unique email."""
        email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
        data = (
            await self.gql.op(
                "SignUp",
                {"input": {"email": email, "password": PASSWORD, "displayName": name.title()}},
            )
        ).data
        payload = data["signUp"]
        return Account(
            payload["user"]["id"], email, payload["accessToken"], payload["refreshToken"]
        )

    async def tenant(self, name: str = "Acme", owner: Account | None = None) -> Tenant:
        """A new workspace and its owner."""
        owner = owner or await self.account("owner")
        created = (
            await self.gql.as_(owner.token).op("CreateWorkspace", {"input": {"name": name}})
        ).data["createWorkspace"]
        return Tenant(
            created["id"], created["slug"], owner, self.gql.as_(owner.token, created["id"])
        )

    async def member(self, tenant: Tenant, role: str = "MEMBER") -> tuple[Account, GraphQL]:
        """A new user who joined `tenant` with `role` (through an invitation)."""
        account = await self.account(role.lower())
        invite = (
            await tenant.gql.op(
                "InviteMember",
                {"input": {"email": account.email, "role": "ADMIN" if role == "OWNER" else role}},
            )
        ).data
        token = invite["inviteMember"]["token"]
        assert (await self.gql.as_(account.token).op("AcceptInvitation", {"token": token})).data
        if role == "OWNER":
            assert (
                await tenant.gql.op(
                    "ChangeMemberRole", {"userId": account.user_id, "role": "OWNER"}
                )
            ).data
        return account, self.gql.as_(account.token, tenant.id)


@dataclass
class Widget:
    """A publishable key of a tenant and the origin it allows."""

    tenant: Tenant
    key: str
    key_id: str
    origin: str

    def visitor(self, token: str, origin: str | None = None) -> GraphQL:
        """A client sending a visitor token from the page's origin."""
        client = self.tenant.gql.as_(token)
        client.headers["origin"] = origin or self.origin
        return client

    def page(self, origin: str | None = None) -> GraphQL:
        """A client presenting the publishable key from the page's origin."""
        return self.visitor(self.key, origin)

    async def session(self, origin: str | None = None, **variables: object) -> dict[str, object]:
        """Start a visitor session; returns the startWidgetSession payload."""
        result = await self.page(origin).op("StartWidgetSession", {"input": variables or None})
        payload: dict[str, object] = result.data["startWidgetSession"]
        return payload


async def make_widget(
    factory: Factory, tenant: Tenant | None = None, origin: str = "https://shop.example.com"
) -> Widget:
    """A tenant with a publishable key allowing `origin`."""
    tenant = tenant or await factory.tenant("Widgeted")
    created = (
        await tenant.gql.op(
            "CreatePublishableKey", {"input": {"name": "site", "allowedOrigins": [origin]}}
        )
    ).data["createPublishableKey"]
    return Widget(tenant, created["key"], created["apiKey"]["id"], origin)
