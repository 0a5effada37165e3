"""Mutation fields of the tenancy domain: parse input, call a service, return a type."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.node import decode_id, to_global_id
from app.graphql.permissions import IsDashboardCaller, IsUser
from app.graphql.tenancy.queries import member_by_user
from app.graphql.tenancy.types import (
    ApiKey,
    AuthPayload,
    CreateApiKeyPayload,
    DeletePayload,
    Invitation,
    InviteMemberPayload,
    Member,
    Role,
    User,
    Workspace,
)
from tenancy.accounts import service as accounts
from tenancy.accounts.service import Tokens
from tenancy.apikeys import service as keys
from tenancy.workspaces import service as workspaces


def _auth_payload(tokens: Tokens) -> AuthPayload:
    return AuthPayload(
        user=User.from_model(tokens.user),
        access_token=tokens.access_token,
        access_token_expires_at=tokens.access_expires_at,
        refresh_token=tokens.refresh_token,
    )


@strawberry.input(description="A new account.")
class SignUpInput:
    """Sign-up details."""

    email: str = strawberry.field(description="Email address (at most 320 characters).")
    password: str = strawberry.field(description="At least 10 characters.")
    display_name: str = strawberry.field(description="Name shown to teammates (1-200).")


@strawberry.input(description="Credentials to log in with.")
class LogInInput:
    """Log-in details."""

    email: str = strawberry.field(description="Email address.")
    password: str = strawberry.field(description="Password.")
    workspace_id: strawberry.ID | None = strawberry.field(
        default=None, description="Workspace to put in the access token."
    )


@strawberry.input(description="A refresh token to rotate.")
class RefreshSessionInput:
    """Refresh details."""

    refresh_token: str = strawberry.field(description="The latest refresh token.")
    workspace_id: strawberry.ID | None = strawberry.field(
        default=None, description="Workspace to put in the new access token."
    )


@strawberry.input(description="A password change.")
class ChangePasswordInput:
    """Both passwords."""

    current_password: str = strawberry.field(description="The password in use now.")
    new_password: str = strawberry.field(description="The new password (at least 10).")


@strawberry.input(description="A new workspace.")
class CreateWorkspaceInput:
    """Workspace details."""

    name: str = strawberry.field(description="Display name (1-100 characters).")
    slug: str | None = strawberry.field(
        default=None, description="URL-safe short name; generated from the name when omitted."
    )


@strawberry.input(description="An invitation.")
class InviteMemberInput:
    """Who to invite and as what."""

    email: str = strawberry.field(description="The invitee's email address.")
    role: Role = strawberry.field(default=Role.MEMBER, description="ADMIN or MEMBER.")


@strawberry.input(description="A new secret key.")
class CreateSecretKeyInput:
    """Secret key details."""

    name: str = strawberry.field(description="A label (1-100 characters).")
    role: Role = strawberry.field(default=Role.MEMBER, description="ADMIN or MEMBER.")


@strawberry.input(description="A new publishable key.")
class CreatePublishableKeyInput:
    """Publishable key details."""

    name: str = strawberry.field(description="A label (1-100 characters).")
    allowed_origins: list[str] = strawberry.field(
        description="Origins the widget may run on, e.g. https://shop.example.com (1-20)."
    )


@strawberry.type
class TenancyMutation:
    """Root mutation fields of the tenancy domain."""

    @strawberry.mutation(description="Create an account and log in.")
    async def sign_up(self, info: Info, input: SignUpInput) -> AuthPayload:
        """Sign up."""
        ctx = info.context
        async with ctx.db() as session:
            tokens = await accounts.sign_up(
                session,
                ctx.state.security,
                email=input.email,
                password=input.password,
                display_name=input.display_name,
                user_agent=ctx.user_agent,
            )
        return _auth_payload(tokens)

    @strawberry.mutation(description="Log in with email and password.")
    async def log_in(self, info: Info, input: LogInInput) -> AuthPayload:
        """Log in."""
        ctx = info.context
        workspace_id = (
            decode_id(input.workspace_id, "Workspace", "workspaceId")
            if input.workspace_id
            else None
        )
        async with ctx.db() as session:
            tokens = await accounts.log_in(
                session,
                ctx.state.security,
                email=input.email,
                password=input.password,
                user_agent=ctx.user_agent,
                workspace_id=workspace_id,
            )
        return _auth_payload(tokens)

    @strawberry.mutation(description="Exchange a refresh token for new tokens (single use).")
    async def refresh_session(self, info: Info, input: RefreshSessionInput) -> AuthPayload:
        """Rotate the refresh token."""
        ctx = info.context
        workspace_id = (
            decode_id(input.workspace_id, "Workspace", "workspaceId")
            if input.workspace_id
            else None
        )
        async with ctx.db() as session:
            tokens = await accounts.refresh(
                session,
                ctx.state.security,
                refresh_token=input.refresh_token,
                workspace_id=workspace_id,
            )
        return _auth_payload(tokens)

    @strawberry.mutation(description="End this session.", permission_classes=[IsUser])
    async def log_out(self, info: Info) -> bool:
        """Log out."""
        async with info.context.db() as session:
            await accounts.log_out(session, info.context.principal)
        return True

    @strawberry.mutation(
        description="Change your password; other sessions end.", permission_classes=[IsUser]
    )
    async def change_password(self, info: Info, input: ChangePasswordInput) -> bool:
        """Change password."""
        ctx = info.context
        async with ctx.db() as session:
            await accounts.change_password(
                session,
                ctx.state.security,
                ctx.principal,
                current_password=input.current_password,
                new_password=input.new_password,
            )
        return True

    @strawberry.mutation(description="Create a workspace you own.", permission_classes=[IsUser])
    async def create_workspace(self, info: Info, input: CreateWorkspaceInput) -> Workspace:
        """Create a workspace."""
        async with info.context.db() as session:
            ws = await workspaces.create_workspace(
                session, info.context.principal, name=input.name, slug=input.slug
            )
        return Workspace.from_model(ws, "owner")

    @strawberry.mutation(
        description="Rename the current workspace.", permission_classes=[IsDashboardCaller]
    )
    async def rename_workspace(
        self, info: Info, name: Annotated[str, strawberry.argument(description="New name.")]
    ) -> Workspace:
        """Rename."""
        principal = info.context.principal
        async with info.context.db() as session:
            ws = await workspaces.rename_workspace(session, principal, name=name)
        return Workspace.from_model(ws, principal.role.value if principal.role else None)

    @strawberry.mutation(
        description="Delete the current workspace and all its data (owners only).",
        permission_classes=[IsUser],
    )
    async def delete_workspace(
        self,
        info: Info,
        confirm_slug: Annotated[str, strawberry.argument(description="The workspace's slug.")],
    ) -> DeletePayload:
        """Delete."""
        principal = info.context.principal
        async with info.context.db() as session:
            await workspaces.delete_workspace(session, principal, confirm_slug=confirm_slug)
        assert principal.workspace_id is not None
        return DeletePayload(id=to_global_id("Workspace", principal.workspace_id))

    @strawberry.mutation(
        description="Make another member the owner; you become an admin.",
        permission_classes=[IsUser],
    )
    async def transfer_ownership(
        self,
        info: Info,
        user_id: Annotated[
            strawberry.ID, strawberry.argument(description="The new owner's User id.")
        ],
    ) -> Workspace:
        """Transfer ownership."""
        principal = info.context.principal
        target = decode_id(user_id, "User", "userId")
        async with info.context.db() as session:
            await workspaces.transfer_ownership(session, principal, to_user_id=target)
            ws = await workspaces.current_workspace(session, principal)
        return Workspace.from_model(ws, "admin")

    @strawberry.mutation(
        description="Invite someone by email.", permission_classes=[IsDashboardCaller]
    )
    async def invite_member(self, info: Info, input: InviteMemberInput) -> InviteMemberPayload:
        """Invite."""
        ctx = info.context
        async with ctx.db() as session:
            created = await workspaces.invite(
                session,
                ctx.principal,
                ctx.state.settings.auth,
                ctx.jobs,
                email=input.email,
                role=input.role.value,
                email_configured=bool(ctx.state.settings.email.smtp_host),
            )
        return InviteMemberPayload(
            invitation=Invitation.from_model(created.invitation),
            token=None if created.emailed else created.token,
        )

    @strawberry.mutation(
        description="Withdraw a pending invitation.", permission_classes=[IsDashboardCaller]
    )
    async def revoke_invitation(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The Invitation id.")],
    ) -> Invitation:
        """Revoke an invitation."""
        invitation_id = decode_id(id, "Invitation")
        async with info.context.db() as session:
            inv = await workspaces.revoke_invitation(
                session, info.context.principal, invitation_id=invitation_id
            )
        return Invitation.from_model(inv)

    @strawberry.mutation(
        description="Join a workspace with an invitation token.", permission_classes=[IsUser]
    )
    async def accept_invitation(
        self,
        info: Info,
        token: Annotated[str, strawberry.argument(description="The token from the invitation.")],
    ) -> Workspace:
        """Accept."""
        async with info.context.db() as session:
            ws = await workspaces.accept_invitation(session, info.context.principal, token=token)
        return Workspace.from_model(ws, None)

    @strawberry.mutation(
        description="Change a member's role.", permission_classes=[IsDashboardCaller]
    )
    async def change_member_role(
        self,
        info: Info,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The User id.")],
        role: Annotated[Role, strawberry.argument(description="The new role.")],
    ) -> Member:
        """Change role."""
        target = decode_id(user_id, "User", "userId")
        async with info.context.db() as session:
            await workspaces.change_role(
                session, info.context.principal, user_id=target, role=role.value
            )
        return await member_by_user(info, target)

    @strawberry.mutation(
        description="Remove a member (or yourself) from the current workspace.",
        permission_classes=[IsDashboardCaller],
    )
    async def remove_member(
        self,
        info: Info,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The User id.")],
    ) -> DeletePayload:
        """Remove a member."""
        target = decode_id(user_id, "User", "userId")
        async with info.context.db() as session:
            await workspaces.remove_member(session, info.context.principal, user_id=target)
        return DeletePayload(id=to_global_id("Member", target))

    @strawberry.mutation(
        description="Create a secret key for server-to-server calls.",
        permission_classes=[IsDashboardCaller],
    )
    async def create_secret_key(
        self, info: Info, input: CreateSecretKeyInput
    ) -> CreateApiKeyPayload:
        """Create a secret key."""
        async with info.context.db() as session:
            created = await keys.create_secret_key(
                session, info.context.principal, name=input.name, role=input.role.value
            )
        return CreateApiKeyPayload(api_key=ApiKey.from_model(created.key), key=created.plaintext)

    @strawberry.mutation(
        description="Create a publishable key for the widget.",
        permission_classes=[IsDashboardCaller],
    )
    async def create_publishable_key(
        self, info: Info, input: CreatePublishableKeyInput
    ) -> CreateApiKeyPayload:
        """Create a publishable key."""
        async with info.context.db() as session:
            created = await keys.create_publishable_key(
                session,
                info.context.principal,
                name=input.name,
                allowed_origins=input.allowed_origins,
            )
        return CreateApiKeyPayload(api_key=ApiKey.from_model(created.key), key=created.plaintext)

    @strawberry.mutation(description="Revoke an API key.", permission_classes=[IsDashboardCaller])
    async def revoke_api_key(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The ApiKey id.")],
    ) -> ApiKey:
        """Revoke a key."""
        key_id = decode_id(id, "ApiKey")
        async with info.context.db() as session:
            key = await keys.revoke_key(session, info.context.principal, key_id=key_id)
        return ApiKey.from_model(key)

    @strawberry.mutation(
        description="Replace a publishable key's allowed origins.",
        permission_classes=[IsDashboardCaller],
    )
    async def set_allowed_origins(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The ApiKey id.")],
        allowed_origins: Annotated[
            list[str], strawberry.argument(description="The new allowlist (1-20 origins).")
        ],
    ) -> ApiKey:
        """Set origins."""
        key_id = decode_id(id, "ApiKey")
        async with info.context.db() as session:
            key = await keys.set_allowed_origins(
                session, info.context.principal, key_id=key_id, allowed_origins=allowed_origins
            )
        return ApiKey.from_model(key)
