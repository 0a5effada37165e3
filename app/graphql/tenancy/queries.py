"""Query fields of the tenancy domain."""

from __future__ import annotations

import uuid

import strawberry

from app.errors import Forbidden
from app.graphql.context import Info
from app.graphql.node import register_node
from app.graphql.pagination import Connection, connection
from app.graphql.permissions import IsDashboardCaller
from app.graphql.tenancy.types import (
    ApiKey,
    ApiKeyKind,
    AuditEvent,
    Invitation,
    Member,
    User,
    Viewer,
    Workspace,
)
from app.pagination import page_request
from tenancy.accounts import repository as accounts_repo
from tenancy.apikeys import repository as keys_repo
from tenancy.apikeys import service as keys
from tenancy.audit import service as audit
from tenancy.principal import Role
from tenancy.workspaces import repository as workspaces_repo
from tenancy.workspaces import service as workspaces


def _require_current(info: Info, workspace_id: uuid.UUID) -> None:
    if info.context.principal.workspace_id != workspace_id:
        raise Forbidden(
            "Select this workspace (X-Workspace-Id header) to read its members, keys and log."
        )


async def members(
    info: Info, workspace_id: uuid.UUID, first: int | None, after: str | None
) -> Connection[Member]:
    """Members of the current workspace."""
    _require_current(info, workspace_id)
    request = page_request(first, after)
    async with info.context.db() as session:
        page = await workspaces.list_members(session, info.context.principal, request)
    return connection(page, lambda row: Member.from_rows(*row), lambda row: row[0].user_id)


async def invitations(
    info: Info, workspace_id: uuid.UUID, first: int | None, after: str | None
) -> Connection[Invitation]:
    """Pending invitations of the current workspace."""
    _require_current(info, workspace_id)
    request = page_request(first, after)
    async with info.context.db() as session:
        page = await workspaces.list_invitations(session, info.context.principal, request)
    return connection(page, Invitation.from_model, lambda inv: inv.id)


async def api_keys(
    info: Info,
    workspace_id: uuid.UUID,
    first: int | None,
    after: str | None,
    kind: ApiKeyKind | None,
    include_revoked: bool,
) -> Connection[ApiKey]:
    """API keys of the current workspace."""
    _require_current(info, workspace_id)
    request = page_request(first, after)
    async with info.context.db() as session:
        page = await keys.list_keys(
            session,
            info.context.principal,
            request,
            kind=kind.value if kind else None,
            include_revoked=include_revoked,
        )
    return connection(page, ApiKey.from_model, lambda key: key.id)


async def audit_log(
    info: Info,
    workspace_id: uuid.UUID,
    first: int | None,
    after: str | None,
    action: str | None,
) -> Connection[AuditEvent]:
    """The current workspace's audit log."""
    _require_current(info, workspace_id)
    request = page_request(first, after)
    async with info.context.db() as session:
        page = await audit.list_events(session, info.context.principal, request, action)
    return connection(page, AuditEvent.from_model, lambda event: event.id)


async def my_workspaces(info: Info, first: int | None, after: str | None) -> Connection[Workspace]:
    """The caller's workspaces with their role in each."""
    user_id = info.context.principal.require_user()
    request = page_request(first, after)
    async with info.context.db() as session:
        rows = await workspaces_repo.list_user_workspaces(session, user_id, request)
    from app.pagination import make_page

    return connection(
        make_page(rows, request), lambda row: Workspace.from_model(*row), lambda row: row[0].id
    )


# node(id:) fetchers: each runs under the request's tenant, so foreign ids find nothing.


async def _workspace_node(info: Info, value: uuid.UUID) -> Workspace | None:
    principal = info.context.principal
    async with info.context.db() as session:
        ws = await workspaces_repo.get_workspace(session, value)
        role = (
            await workspaces_repo.get_role(session, value, principal.user_id)
            if ws and principal.user_id
            else None
        )
    if ws is None:
        return None
    if role is None and principal.workspace_id == ws.id and principal.role:
        role = principal.role.value
    return Workspace.from_model(ws, role)


async def _member_node(info: Info, value: uuid.UUID) -> Member | None:
    principal = info.context.principal
    if principal.workspace_id is None:
        return None
    async with info.context.db() as session:
        membership = await workspaces_repo.get_membership(session, principal.workspace_id, value)
        user = await accounts_repo.get_user(session, value) if membership else None
    return Member.from_rows(membership, user) if membership and user else None


async def _user_node(info: Info, value: uuid.UUID) -> User | None:
    # Users are visible only as oneself or as a member of the current workspace.
    principal = info.context.principal
    if value != principal.user_id:
        if principal.workspace_id is None:
            return None
        async with info.context.db() as session:
            if await workspaces_repo.get_role(session, principal.workspace_id, value) is None:
                return None
    user = await info.context.loaders.users.load(value)
    return User.from_model(user) if user else None


async def _invitation_node(info: Info, value: uuid.UUID) -> Invitation | None:
    principal = info.context.principal
    if principal.workspace_id is None or not (
        principal.role and principal.role.at_least(Role.ADMIN)
    ):
        return None
    async with info.context.db() as session:
        inv = await workspaces_repo.get_invitation(session, principal.workspace_id, value)
    return Invitation.from_model(inv) if inv else None


async def _api_key_node(info: Info, value: uuid.UUID) -> ApiKey | None:
    principal = info.context.principal
    if principal.workspace_id is None or not (
        principal.role and principal.role.at_least(Role.ADMIN)
    ):
        return None
    async with info.context.db() as session:
        key = await keys_repo.get_key(session, principal.workspace_id, value)
    return ApiKey.from_model(key) if key else None


async def member_by_user(info: Info, user_id: uuid.UUID) -> Member:
    """The current workspace's membership of a user (after a change to it)."""
    member = await _member_node(info, user_id)
    if member is None:
        from app.errors import NotFound

        raise NotFound("That user is not a member of this workspace.")
    return member


register_node("Workspace", _workspace_node)
register_node("Member", _member_node)
register_node("User", _user_node)
register_node("Invitation", _invitation_node)
register_node("ApiKey", _api_key_node)


@strawberry.type
class TenancyQuery:
    """Root query fields of the tenancy domain."""

    @strawberry.field(description="The caller: user and workspaces.")
    async def viewer(self, info: Info) -> Viewer:
        """Never fails: anonymous callers get a viewer with no user."""
        principal = info.context.principal
        user = None
        if principal.user_id is not None:
            found = await info.context.loaders.users.load(principal.user_id)
            user = User.from_model(found) if found else None
        return Viewer(user=user, user_id=principal.user_id)

    @strawberry.field(
        description="The current workspace (chosen by the X-Workspace-Id header, the access "
        "token, or the API key).",
        permission_classes=[IsDashboardCaller],
    )
    async def workspace(self, info: Info) -> Workspace:
        """The request's workspace."""
        principal = info.context.principal
        async with info.context.db() as session:
            ws = await workspaces.current_workspace(session, principal)
        return Workspace.from_model(ws, principal.role.value if principal.role else None)
