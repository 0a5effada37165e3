"""Workspace rules: who may create, rename, delete, invite, change roles and remove members.

Owners alone delete a workspace or hand ownership on; admins manage members, invitations and
keys; members read and use. A workspace never loses its last owner.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import AuthSettings
from app.db.ids import uuid7
from app.db.tenant import set_tenant
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.jobs import JobBuffer
from app.pagination import Page, PageRequest, make_page
from app.validation import clean_email, clean_slug, clean_text, slugify
from billing.entitlements import service as entitlements
from billing.entitlements.limits import Limit
from billing.subscriptions import service as subscriptions
from tenancy.accounts import repository as accounts_repo
from tenancy.accounts.models import User
from tenancy.apikeys import service as keys
from tenancy.audit import service as audit
from tenancy.principal import Principal, PrincipalKind, Role
from tenancy.security import parse_scoped_token, scoped_token, token_hash
from tenancy.workspaces import repository
from tenancy.workspaces.models import Invitation, Membership, Workspace

log = logging.getLogger(__name__)

INVITATION_PREFIX = "inv"


def _parse_role(value: str, *, field: str = "role") -> Role:
    try:
        return Role(value.lower())
    except ValueError as exc:
        raise ValidationFailed(f"{field} must be owner, admin or member.", field=field) from exc


async def create_workspace(
    session: AsyncSession, principal: Principal, *, name: str, slug: str | None = None
) -> Workspace:
    """Create a workspace owned by the caller. The transaction switches its tenant to the
    new workspace, which row-level security requires for the inserts."""
    user_id = principal.require_user()
    name = clean_text(name, field="name", max_length=100)
    slug = clean_slug(slug) if slug else slugify(name) + "-" + uuid.uuid4().hex[:6]
    workspace = Workspace(id=uuid7(), name=name, slug=slug)
    await set_tenant(session, workspace.id, user_id)
    try:
        async with session.begin_nested():
            await repository.insert_workspace(session, workspace)
    except IntegrityError as exc:
        raise Conflict(f"The slug {slug!r} is taken.", field="slug") from exc
    await repository.insert_membership(
        session, Membership(workspace_id=workspace.id, user_id=user_id, role=Role.OWNER.value)
    )
    # Every workspace has exactly one current subscription; a new one starts on free.
    await subscriptions.start_free(session, workspace.id)
    creator = Principal(
        kind=PrincipalKind.USER,
        user_id=user_id,
        workspace_id=workspace.id,
        role=Role.OWNER,
        ip=principal.ip,
    )
    await audit.record(
        session,
        creator,
        "workspace.created",
        target_type="workspace",
        target_id=workspace.id,
        details={"slug": slug},
    )
    return workspace


async def current_workspace(session: AsyncSession, principal: Principal) -> Workspace:
    """The workspace the request is scoped to."""
    workspace_id = principal.require_workspace()
    workspace = await repository.get_workspace(session, workspace_id)
    if workspace is None:
        raise NotFound("The workspace does not exist.")
    return workspace


async def rename_workspace(session: AsyncSession, principal: Principal, *, name: str) -> Workspace:
    """Rename the current workspace (admins and owners)."""
    workspace_id = principal.require_role(Role.ADMIN)
    name = clean_text(name, field="name", max_length=100)
    await repository.rename_workspace(session, workspace_id, name)
    await audit.record(
        session,
        principal,
        "workspace.renamed",
        target_type="workspace",
        target_id=workspace_id,
        details={"name": name},
    )
    return await current_workspace(session, principal)


async def delete_workspace(
    session: AsyncSession, principal: Principal, *, confirm_slug: str
) -> None:
    """Delete the current workspace and everything in it (owners only; the slug must be
    typed back, so a stray click or script cannot do it)."""
    if principal.kind is not PrincipalKind.USER:
        raise Forbidden("Only an owner, logged in, can delete a workspace.")
    workspace_id = principal.require_role(Role.OWNER)
    workspace = await current_workspace(session, principal)
    if confirm_slug != workspace.slug:
        raise ValidationFailed(
            "confirmSlug does not match the workspace's slug.", field="confirmSlug"
        )
    if await subscriptions.has_live_paid_subscription(session, workspace_id):
        # Deleting would leave Razorpay charging for a workspace that no longer exists.
        raise Conflict("Cancel the paid subscription before deleting the workspace.")
    await keys.forget_all(session, workspace_id)
    await repository.delete_workspace(session, workspace_id)
    log.info("workspace deleted", extra={"workspace_id": str(workspace_id)})


async def transfer_ownership(
    session: AsyncSession, principal: Principal, *, to_user_id: uuid.UUID
) -> None:
    """Make another member an owner and step down to admin (owners only)."""
    if principal.kind is not PrincipalKind.USER:
        raise Forbidden("Only an owner, logged in, can transfer ownership.")
    workspace_id = principal.require_role(Role.OWNER)
    me = principal.require_user()
    if to_user_id == me:
        raise ValidationFailed("You already own this workspace.", field="userId")
    await repository.lock_owners(session, workspace_id)
    target = await repository.get_membership(session, workspace_id, to_user_id, lock=True)
    if target is None:
        raise NotFound("That user is not a member of this workspace.")
    await repository.set_role(session, workspace_id, to_user_id, Role.OWNER.value)
    await repository.set_role(session, workspace_id, me, Role.ADMIN.value)
    await audit.record(
        session,
        principal,
        "workspace.ownership_transferred",
        target_type="user",
        target_id=to_user_id,
    )


async def list_members(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> Page[tuple[Membership, User]]:
    """Members of the current workspace with their users."""
    workspace_id = principal.require_workspace()
    return make_page(await repository.list_members(session, workspace_id, page), page)


async def _guard_owner_change(
    session: AsyncSession,
    principal: Principal,
    workspace_id: uuid.UUID,
    target: Membership,
    new_role: Role | None,
) -> None:
    """Rules shared by role changes and removals (`new_role` None means removal)."""
    target_role = Role(target.role)
    acting_owner = principal.role is Role.OWNER
    if (target_role is Role.OWNER or new_role is Role.OWNER) and not acting_owner:
        raise Forbidden("Only an owner can grant, change or remove the owner role.")
    if target_role is Role.ADMIN and target.user_id != principal.user_id and not acting_owner:
        # One admin must not be able to lock the others out.
        raise Forbidden("Only an owner can change or remove another admin.")
    if target_role is Role.OWNER and new_role is not Role.OWNER:
        owners = await repository.lock_owners(session, workspace_id)
        if owners == [target.user_id]:
            raise Conflict("A workspace must keep at least one owner; transfer ownership first.")


async def change_role(
    session: AsyncSession, principal: Principal, *, user_id: uuid.UUID, role: str
) -> Membership:
    """Change a member's role (admins and owners; owner changes need an owner)."""
    workspace_id = principal.require_role(Role.ADMIN)
    new_role = _parse_role(role)
    target = await repository.get_membership(session, workspace_id, user_id, lock=True)
    if target is None:
        raise NotFound("That user is not a member of this workspace.")
    await _guard_owner_change(session, principal, workspace_id, target, new_role)
    await repository.set_role(session, workspace_id, user_id, new_role.value)
    await audit.record(
        session,
        principal,
        "member.role_changed",
        target_type="user",
        target_id=user_id,
        details={"from": target.role, "to": new_role.value},
    )
    target.role = new_role.value
    return target


async def remove_member(session: AsyncSession, principal: Principal, *, user_id: uuid.UUID) -> None:
    """Remove a member; anyone may leave, admins remove members, owners remove anyone. The
    last owner cannot go."""
    is_self = principal.user_id == user_id
    workspace_id = (
        principal.require_role(Role.MEMBER) if is_self else principal.require_role(Role.ADMIN)
    )
    target = await repository.get_membership(session, workspace_id, user_id, lock=True)
    if target is None:
        raise NotFound("That user is not a member of this workspace.")
    await _guard_owner_change(session, principal, workspace_id, target, None)
    await repository.delete_membership(session, workspace_id, user_id)
    await audit.record(
        session,
        principal,
        "member.left" if is_self else "member.removed",
        target_type="user",
        target_id=user_id,
    )


@dataclass(frozen=True, slots=True)
class InvitationCreated:
    """A new invitation and its token (shown to the inviter only when no email is sent)."""

    invitation: Invitation
    token: str
    emailed: bool


async def invite(
    session: AsyncSession,
    principal: Principal,
    settings: AuthSettings,
    jobs: JobBuffer,
    *,
    email: str,
    role: str,
    email_configured: bool,
) -> InvitationCreated:
    """Invite someone by email (admins and owners). Only the token's hash is stored."""
    workspace_id = principal.require_role(Role.ADMIN)
    email = clean_email(email)
    invited_role = _parse_role(role)
    if invited_role is Role.OWNER:
        raise ValidationFailed("Invite as admin or member, then transfer ownership.", field="role")
    existing = await accounts_repo.get_user_by_email(session, email)
    if existing and await repository.get_role(session, workspace_id, existing.id):
        raise Conflict("That person is already a member.", field="email")
    # Members plus pending invitations count against the plan's members limit.
    await entitlements.require(session, workspace_id, Limit.MEMBERS)
    token = scoped_token(INVITATION_PREFIX, workspace_id)
    invitation = Invitation(
        workspace_id=workspace_id,
        id=uuid7(),
        email=email,
        role=invited_role.value,
        token_hash=token_hash(token),
        invited_by=principal.user_id,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.invitation_ttl_s),
    )
    await repository.insert_invitation(session, invitation)
    await audit.record(
        session,
        principal,
        "invitation.created",
        target_type="invitation",
        target_id=invitation.id,
        details={"email": email, "role": invited_role.value},
    )
    if email_configured:
        jobs.add("send_invitation_email", str(workspace_id), str(invitation.id), token)
    else:
        # No mail service: the inviter passes the token on. Logged for the operator running
        # a development setup; production should configure email.
        log.info(
            "invitation token (no email configured)",
            extra={"invitation_id": str(invitation.id), "invitation_token": token},
        )
    return InvitationCreated(invitation, token, emailed=email_configured)


async def revoke_invitation(
    session: AsyncSession, principal: Principal, *, invitation_id: uuid.UUID
) -> Invitation:
    """Withdraw a pending invitation."""
    workspace_id = principal.require_role(Role.ADMIN)
    invitation = await repository.get_invitation(session, workspace_id, invitation_id)
    if invitation is None:
        raise NotFound("No such invitation.")
    if invitation.accepted_at or invitation.revoked_at:
        raise Conflict("The invitation is no longer pending.")
    await repository.revoke_invitation(session, invitation)
    await audit.record(
        session, principal, "invitation.revoked", target_type="invitation", target_id=invitation_id
    )
    invitation.revoked_at = dt.datetime.now(dt.UTC)
    return invitation


async def list_invitations(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> Page[Invitation]:
    """Pending invitations (admins and owners)."""
    workspace_id = principal.require_role(Role.ADMIN)
    return make_page(await repository.list_pending_invitations(session, workspace_id, page), page)


async def accept_invitation(
    session: AsyncSession, principal: Principal, *, token: str
) -> Workspace:
    """Join a workspace with an invitation addressed to the caller's email. The token names
    its workspace, so the lookup runs under that tenant; a forged one finds nothing."""
    user_id = principal.require_user()
    workspace_id = parse_scoped_token(token, INVITATION_PREFIX)
    if workspace_id is None:
        raise NotFound("The invitation is not valid.")
    await set_tenant(session, workspace_id, user_id)
    invitation = await repository.find_invitation_by_hash(session, workspace_id, token_hash(token))
    now = dt.datetime.now(dt.UTC)
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound("The invitation is not valid.")
    if invitation.accepted_at is not None:
        raise Conflict("The invitation was already used.")
    if invitation.expires_at <= now:
        raise Conflict("The invitation has expired; ask for a new one.")
    user = await accounts_repo.get_user(session, user_id)
    if user is None or user.email.lower() != invitation.email.lower():
        raise Forbidden("The invitation was sent to a different email address.")
    if await repository.get_role(session, workspace_id, user_id):
        raise Conflict("You are already a member of this workspace.")
    await repository.insert_membership(
        session, Membership(workspace_id=workspace_id, user_id=user_id, role=invitation.role)
    )
    await repository.mark_invitation_accepted(session, invitation, user_id)
    joined = Principal(
        kind=PrincipalKind.USER,
        user_id=user_id,
        workspace_id=workspace_id,
        role=Role(invitation.role),
        ip=principal.ip,
    )
    await audit.record(
        session, joined, "invitation.accepted", target_type="invitation", target_id=invitation.id
    )
    workspace = await repository.get_workspace(session, workspace_id)
    if workspace is None:
        raise NotFound("The workspace no longer exists.")
    return workspace
