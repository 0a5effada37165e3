"""GraphQL types of the tenancy domain."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.graphql.context import Info
from app.graphql.loaders import loaded
from app.graphql.node import Node, to_global_id
from app.graphql.pagination import Connection
from tenancy.accounts.models import User as UserModel
from tenancy.accounts.repository import UserCard
from tenancy.apikeys.models import ApiKey as ApiKeyModel
from tenancy.audit.models import AuditEvent as AuditEventModel
from tenancy.workspaces.models import Invitation as InvitationModel
from tenancy.workspaces.models import Membership
from tenancy.workspaces.models import Workspace as WorkspaceModel

if TYPE_CHECKING:
    pass


@strawberry.enum(
    description="A member's role: OWNER (everything, including deletion), ADMIN (manages "
    "members, keys and settings), MEMBER (reads and uses the workspace)."
)
class Role(Enum):
    """Workspace roles."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


@strawberry.enum(
    description="What an API key is for: SECRET (servers; acts with a role) or PUBLISHABLE "
    "(the widget in browsers; bound to allowed origins)."
)
class ApiKeyKind(Enum):
    """API key kinds."""

    SECRET = "secret"
    PUBLISHABLE = "publishable"


@strawberry.type(description="A person with a Parley account.")
class User(Node):
    """A user."""

    email: str = strawberry.field(description="Email address, used to log in.")
    display_name: str = strawberry.field(description="Name shown to teammates.")
    created_at: dt.datetime = strawberry.field(description="When the account was created.")

    @classmethod
    def from_model(cls, user: UserModel | UserCard) -> User:
        """Convert an entity or a card."""
        return cls(
            id=to_global_id("User", user.id),
            email=user.email,
            display_name=user.display_name,
            created_at=user.created_at,
        )

    @classmethod
    def from_card(cls, card: UserCard | None) -> User | None:
        """Convert a loaded card; None when the account is gone."""
        return cls.from_model(card) if card is not None else None


@strawberry.type(description="A user's membership in the current workspace.")
class Member(Node):
    """A member."""

    user: User = strawberry.field(description="The member.")
    role: Role = strawberry.field(description="The member's role.")
    joined_at: dt.datetime = strawberry.field(description="When the user joined.")

    @classmethod
    def from_rows(cls, membership: Membership, user: UserModel) -> Member:
        """Convert a membership and its user."""
        return cls(
            id=to_global_id("Member", membership.user_id),
            user=User.from_model(user),
            role=Role(membership.role),
            joined_at=membership.created_at,
        )


@strawberry.enum(description="Where an invitation stands: PENDING, ACCEPTED, REVOKED or EXPIRED.")
class InvitationStatus(Enum):
    """Invitation states."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


@strawberry.type(description="An invitation to join the workspace.")
class Invitation(Node):
    """An invitation."""

    email: str = strawberry.field(description="Who was invited.")
    role: Role = strawberry.field(description="The role they get on accepting.")
    status: InvitationStatus = strawberry.field(description="Where the invitation stands.")
    created_at: dt.datetime = strawberry.field(description="When it was sent.")
    expires_at: dt.datetime = strawberry.field(description="When it stops working.")
    invited_by_id: strawberry.Private[uuid.UUID | None]

    # Batched through the request's user loader (at once when already loaded).
    invited_by: User | None = strawberry.field(
        description="Who sent it, if they still have an account.",
        resolver=loaded("users", "invited_by_id", User.from_card),
        graphql_type=User | None,
    )

    @classmethod
    def from_model(cls, inv: InvitationModel) -> Invitation:
        """Convert a row."""
        if inv.accepted_at:
            status = InvitationStatus.ACCEPTED
        elif inv.revoked_at:
            status = InvitationStatus.REVOKED
        elif inv.expires_at <= dt.datetime.now(dt.UTC):
            status = InvitationStatus.EXPIRED
        else:
            status = InvitationStatus.PENDING
        return cls(
            id=to_global_id("Invitation", inv.id),
            email=inv.email,
            role=Role(inv.role),
            status=status,
            created_at=inv.created_at,
            expires_at=inv.expires_at,
            invited_by_id=inv.invited_by,
        )


@strawberry.type(description="An API key. The full key is shown only when created.")
class ApiKey(Node):
    """An API key."""

    kind: ApiKeyKind = strawberry.field(description="Secret or publishable.")
    name: str = strawberry.field(description="A label to recognise the key by.")
    role: Role | None = strawberry.field(description="The role a secret key acts with.")
    preview: str = strawberry.field(description="Prefix and last four characters, e.g. sk_…a1b2.")
    allowed_origins: list[str] = strawberry.field(
        description="Origins a publishable key may be used from."
    )
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    last_used_at: dt.datetime | None = strawberry.field(
        description="When it was last used (updated at most once a minute)."
    )
    revoked_at: dt.datetime | None = strawberry.field(description="When it was revoked.")

    @classmethod
    def from_model(cls, key: ApiKeyModel) -> ApiKey:
        """Convert a row."""
        prefix = "sk" if key.kind == "secret" else "pk"
        return cls(
            id=to_global_id("ApiKey", key.id),
            kind=ApiKeyKind(key.kind),
            name=key.name,
            role=Role(key.role) if key.role else None,
            preview=f"{prefix}_…{key.last_four}",
            allowed_origins=list(key.allowed_origins),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


@strawberry.type(description="A security-relevant action recorded in the workspace.")
class AuditEvent(Node):
    """An audit log entry."""

    occurred_at: dt.datetime = strawberry.field(description="When it happened.")
    actor_type: str = strawberry.field(
        description="user, secret_key, publishable_key, visitor or system."
    )
    actor_id: strawberry.ID | None = strawberry.field(description="The acting user or key.")
    action: str = strawberry.field(description="What happened, e.g. member.role_changed.")
    target_type: str | None = strawberry.field(description="Kind of object acted on.")
    target_id: str | None = strawberry.field(description="Id of the object acted on.")
    ip: str | None = strawberry.field(description="Client address, when known.")
    details: JSON = strawberry.field(description="Action-specific details.")

    @classmethod
    def from_model(cls, event: AuditEventModel) -> AuditEvent:
        """Convert a row."""
        actor: strawberry.ID | None = None
        if event.actor_id is not None:
            actor_type = "User" if event.actor_type == "user" else "ApiKey"
            actor = to_global_id(actor_type, event.actor_id)
        details: Any = event.details
        return cls(
            id=to_global_id("AuditEvent", event.id),
            occurred_at=event.occurred_at,
            actor_type=event.actor_type,
            actor_id=actor,
            action=event.action,
            target_type=event.target_type,
            target_id=event.target_id,
            ip=str(event.ip) if event.ip else None,
            details=details,
        )


@strawberry.type(description="A workspace: a business's own space in Parley.")
class Workspace(Node):
    """A workspace. Its lists are readable only while it is the request's current workspace."""

    name: str = strawberry.field(description="Display name.")
    slug: str = strawberry.field(description="Unique, URL-safe short name.")
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    viewer_role: Role | None = strawberry.field(description="The caller's role here.")
    workspace_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, ws: WorkspaceModel, role: str | None) -> Workspace:
        """Convert a row, with the caller's role."""
        return cls(
            id=to_global_id("Workspace", ws.id),
            name=ws.name,
            slug=ws.slug,
            created_at=ws.created_at,
            viewer_role=Role(role) if role else None,
            workspace_id=ws.id,
        )

    @strawberry.field(description="Members, ordered by user id.")
    async def members(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Member]:
        """Paged members of this workspace."""
        from app.graphql.tenancy import queries

        return await queries.members(info, self.workspace_id, first, after)

    @strawberry.field(description="Pending invitations (admins and owners).")
    async def invitations(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Invitation]:
        """Paged pending invitations."""
        from app.graphql.tenancy import queries

        return await queries.invitations(info, self.workspace_id, first, after)

    @strawberry.field(description="API keys (admins and owners).")
    async def api_keys(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        kind: Annotated[
            ApiKeyKind | None, strawberry.argument(description="Only keys of this kind.")
        ] = None,
        include_revoked: Annotated[
            bool, strawberry.argument(description="Include revoked keys.")
        ] = False,
    ) -> Connection[ApiKey]:
        """Paged API keys."""
        from app.graphql.tenancy import queries

        return await queries.api_keys(info, self.workspace_id, first, after, kind, include_revoked)

    @strawberry.field(description="The audit log, newest first (admins and owners).")
    async def audit_log(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        action: Annotated[str | None, strawberry.argument(description="Only this action.")] = None,
    ) -> Connection[AuditEvent]:
        """Paged audit events."""
        from app.graphql.tenancy import queries

        return await queries.audit_log(info, self.workspace_id, first, after, action)


@strawberry.type(description="Tokens returned by sign-up, log-in and refresh.")
class AuthPayload:
    """Tokens for a user."""

    user: User = strawberry.field(description="The logged-in user.")
    access_token: str = strawberry.field(
        description="Short-lived bearer token for the Authorization header."
    )
    access_token_expires_at: dt.datetime = strawberry.field(
        description="When the access token expires."
    )
    refresh_token: str = strawberry.field(
        description="Single-use token to get new tokens; store it safely."
    )


@strawberry.type(description="A new invitation.")
class InviteMemberPayload:
    """The invitation and, when no email was sent, its token."""

    invitation: Invitation = strawberry.field(description="The invitation.")
    token: str | None = strawberry.field(
        description="The invitation token, returned only when Parley could not email it."
    )


@strawberry.type(description="A new API key.")
class CreateApiKeyPayload:
    """The key and its full text."""

    api_key: ApiKey = strawberry.field(description="The key's details.")
    key: str = strawberry.field(description="The full key. It is shown only this once.")


@strawberry.type(description="Confirms a deletion.")
class DeletePayload:
    """The id of what was deleted."""

    id: strawberry.ID = strawberry.field(description="Id of the deleted object.")


@strawberry.type(description="The caller.")
class Viewer:
    """Who is calling."""

    user: User | None = strawberry.field(description="The logged-in user, if any.")
    user_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="Workspaces the user belongs to.")
    async def workspaces(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Workspace]:
        """Paged workspaces of the user."""
        from app.graphql.tenancy import queries

        return await queries.my_workspaces(info, first, after)
