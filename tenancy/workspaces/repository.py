"""SQL for workspaces, memberships and invitations. Row-level security scopes every query to
the current workspace (or, for listing, to the current user's memberships)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import limits
from app.pagination import PageRequest
from tenancy.accounts.models import User
from tenancy.workspaces.models import Invitation, Membership, Workspace


async def insert_workspace(session: AsyncSession, workspace: Workspace) -> None:
    """Add a workspace; a taken slug raises IntegrityError for the service to translate."""
    session.add(workspace)
    await session.flush()


async def get_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    """A workspace visible to the current tenant or user."""
    return await session.scalar(select(Workspace).where(Workspace.id == workspace_id))


async def get_workspaces(
    session: AsyncSession, workspace_ids: Sequence[uuid.UUID]
) -> list[Workspace]:
    """Workspaces by ids (those visible)."""
    if not workspace_ids:
        return []
    return list(await session.scalars(select(Workspace).where(Workspace.id.in_(workspace_ids))))


async def rename_workspace(session: AsyncSession, workspace_id: uuid.UUID, name: str) -> None:
    """Change a workspace's display name."""
    await session.execute(update(Workspace).where(Workspace.id == workspace_id).values(name=name))


async def delete_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    """Delete a workspace and, by cascade, everything in it."""
    result = await session.execute(
        delete(Workspace).where(Workspace.id == workspace_id).returning(Workspace.id)
    )
    return result.first() is not None


async def list_user_workspaces(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> list[tuple[Workspace, str]]:
    """The user's workspaces with their role, oldest first, one page (+1 to detect more)."""
    query = (
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id)
        .order_by(Workspace.id)
        .limit(limits.page_rows(page))
    )
    if page.after is not None:
        query = query.where(Workspace.id > page.after)
    return [(row[0], row[1]) for row in await session.execute(query)]


# Built once with bound parameters (requests authenticate through authenticate_user in
# accounts/repository.py; this serves membership changes and invitations).
_ROLE = select(Membership.role).where(
    Membership.workspace_id == bindparam("workspace_id"),
    Membership.user_id == bindparam("user_id"),
)


async def get_role(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> str | None:
    """The user's role in the workspace, or None when not a member."""
    role: str | None = await session.scalar(
        _ROLE, {"workspace_id": workspace_id, "user_id": user_id}
    )
    return role


async def get_membership(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> Membership | None:
    """One membership, optionally locked for a role change."""
    query = select(Membership).where(
        Membership.workspace_id == workspace_id, Membership.user_id == user_id
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def lock_owners(session: AsyncSession, workspace_id: uuid.UUID) -> list[uuid.UUID]:
    """Lock the owner memberships and return their user ids, so two requests cannot each
    remove a different "other" owner and leave the workspace with none."""
    result = await session.scalars(
        select(Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.role == "owner")
        .order_by(Membership.user_id)
        .with_for_update()
    )
    return list(result)


async def insert_membership(session: AsyncSession, membership: Membership) -> None:
    """Add a member; an existing membership raises IntegrityError."""
    session.add(membership)
    await session.flush()


async def set_role(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> None:
    """Change a member's role."""
    await session.execute(
        update(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        .values(role=role)
    )


async def delete_membership(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    """Remove a member."""
    result = await session.execute(
        delete(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        .returning(Membership.user_id)
    )
    return result.first() is not None


async def list_members(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageRequest
) -> list[tuple[Membership, User]]:
    """Members with their user, ordered by user id, one page (+1)."""
    query = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(Membership.user_id)
        .limit(limits.page_rows(page))
    )
    if page.after is not None:
        query = query.where(Membership.user_id > page.after)
    return [(row[0], row[1]) for row in await session.execute(query)]


async def count_members(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """How many members a workspace has."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.workspace_id == workspace_id)
        )
        or 0
    )


async def insert_invitation(session: AsyncSession, invitation: Invitation) -> None:
    """Add an invitation."""
    session.add(invitation)
    await session.flush()


async def get_invitation(
    session: AsyncSession, workspace_id: uuid.UUID, invitation_id: uuid.UUID
) -> Invitation | None:
    """An invitation by id."""
    return await session.scalar(
        select(Invitation).where(
            Invitation.workspace_id == workspace_id, Invitation.id == invitation_id
        )
    )


async def find_invitation_by_hash(
    session: AsyncSession, workspace_id: uuid.UUID, token_hash: bytes
) -> Invitation | None:
    """An invitation by its token hash, locked so it can be used only once."""
    return await session.scalar(
        select(Invitation)
        .where(Invitation.workspace_id == workspace_id, Invitation.token_hash == token_hash)
        .with_for_update()
    )


async def mark_invitation_accepted(
    session: AsyncSession, invitation: Invitation, user_id: uuid.UUID
) -> None:
    """Use up an invitation."""
    await session.execute(
        update(Invitation)
        .where(Invitation.workspace_id == invitation.workspace_id, Invitation.id == invitation.id)
        .values(accepted_at=func.now(), accepted_by=user_id)
    )


async def revoke_invitation(session: AsyncSession, invitation: Invitation) -> None:
    """Withdraw an invitation."""
    await session.execute(
        update(Invitation)
        .where(Invitation.workspace_id == invitation.workspace_id, Invitation.id == invitation.id)
        .values(revoked_at=func.now())
    )


async def list_pending_invitations(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageRequest
) -> list[Invitation]:
    """Invitations not yet accepted or revoked, one page (+1)."""
    query = (
        select(Invitation)
        .where(
            Invitation.workspace_id == workspace_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .order_by(Invitation.id)
        .limit(limits.page_rows(page))
    )
    if page.after is not None:
        query = query.where(Invitation.id > page.after)
    return list(await session.scalars(query))
