"""Operator actions behind the `parley` admin verbs.

Finding a workspace by slug crosses tenants, so that one look-up uses the admin connection;
the work itself runs as the application role inside the workspace's tenant, through the same
services the API uses.
"""

from __future__ import annotations

import uuid

import asyncpg

from app.config import Settings
from app.db.engine import asyncpg_dsn
from app.db.ids import uuid7
from app.db.tenant import set_tenant, tenant_transaction
from app.errors import NotFound, ValidationFailed
from app.state import AppState
from tenancy.accounts import repository as accounts_repo
from tenancy.accounts.models import User
from tenancy.apikeys import service as keys
from tenancy.principal import Principal, PrincipalKind, Role
from tenancy.workspaces import service as workspaces
from tenancy.workspaces.models import Workspace


async def workspace_id_by_slug(settings: Settings, slug: str) -> uuid.UUID:
    """Resolve a slug over the admin connection (the one cross-tenant look-up)."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.database.admin_url))
    try:
        found = await conn.fetchval("SELECT id FROM workspaces WHERE slug = $1", slug)
    finally:
        await conn.close()
    if found is None:
        raise NotFound(f"No workspace with slug {slug!r}.")
    return uuid.UUID(str(found))


def system_principal(workspace_id: uuid.UUID) -> Principal:
    """The operator acting on one workspace with owner powers."""
    return Principal(kind=PrincipalKind.SYSTEM, workspace_id=workspace_id, role=Role.OWNER)


async def create_workspace(
    settings: Settings,
    *,
    name: str,
    owner_email: str,
    owner_password: str | None,
    slug: str | None,
) -> Workspace:
    """Create a workspace owned by `owner_email`, creating that user if needed."""
    state = await AppState.create(settings, with_queue=False)
    try:
        async with tenant_transaction(state.sessions, None) as session:
            user = await accounts_repo.get_user_by_email(session, owner_email)
            if user is None:
                if not owner_password:
                    raise ValidationFailed("The user does not exist: give --owner-password.")
                from app.validation import check_password, clean_email

                user = User(
                    id=uuid7(),
                    email=clean_email(owner_email),
                    display_name=owner_email.split("@", maxsplit=1)[0],
                    password_hash=state.security.passwords.hash(check_password(owner_password)),
                )
                await accounts_repo.insert_user(session, user)
            await set_tenant(session, None, user.id)
            principal = Principal(kind=PrincipalKind.USER, user_id=user.id)
            return await workspaces.create_workspace(session, principal, name=name, slug=slug)
    finally:
        await state.close()


async def create_secret_key(settings: Settings, *, slug: str, name: str, role: str) -> str:
    """A new secret key for the workspace with this slug; returns its full text."""
    workspace_id = await workspace_id_by_slug(settings, slug)
    state = await AppState.create(settings, with_queue=False)
    try:
        async with tenant_transaction(state.sessions, workspace_id) as session:
            created = await keys.create_secret_key(
                session, system_principal(workspace_id), name=name, role=role
            )
            return created.plaintext
    finally:
        await state.close()


async def create_publishable_key(
    settings: Settings, *, slug: str, name: str, origins: list[str]
) -> str:
    """A new publishable key for the workspace with this slug; returns its full text."""
    workspace_id = await workspace_id_by_slug(settings, slug)
    state = await AppState.create(settings, with_queue=False)
    try:
        async with tenant_transaction(state.sessions, workspace_id) as session:
            created = await keys.create_publishable_key(
                session, system_principal(workspace_id), name=name, allowed_origins=origins
            )
            return created.plaintext
    finally:
        await state.close()


DEMO_DOCUMENTS = (
    (
        "Shipping",
        "https://demo.parley.local/help/shipping",
        "# Shipping\n\nOrders placed before 2 pm ship the same working day. Delivery within "
        "India takes two to four working days; international delivery takes seven to twelve. "
        "Shipping is free on orders above 1,500 rupees; below that it costs 99 rupees.\n",
    ),
    (
        "Returns and refunds",
        "https://demo.parley.local/help/returns",
        "# Returns and refunds\n\nYou can return any unused item within 30 days of delivery. "
        "Start a return from your order page; a courier collects it at no cost. Refunds reach "
        "your original payment method within five business days of the item arriving back.\n",
    ),
    (
        "Opening hours",
        "https://demo.parley.local/stores",
        "# Opening hours\n\nOur Bengaluru store opens from 10 am to 8 pm, Monday to Saturday, "
        "and from 11 am to 6 pm on Sundays. Customer support answers by chat and email from "
        "9 am to 9 pm every day.\n",
    ),
)


async def seed_demo_knowledge(settings: Settings, *, slug: str) -> int:
    """Give the demo workspace its documents (once); returns how many were added. They are
    ingested by the worker like any other document."""
    from app.jobs import JobBuffer
    from app.knowledge import service as knowledge

    workspace_id = await workspace_id_by_slug(settings, slug)
    state = await AppState.create(settings)
    try:
        jobs = JobBuffer()
        async with tenant_transaction(state.sessions, workspace_id) as session:
            principal = system_principal(workspace_id)
            for title, url, content in DEMO_DOCUMENTS:
                await knowledge.add_text_document(
                    session,
                    principal,
                    settings,
                    jobs,
                    content=content,
                    format="markdown",
                    title=title,
                    source_url=url,
                )
            await jobs.stage(session)
        await jobs.deliver_from(state)
        return len(DEMO_DOCUMENTS)
    finally:
        await state.close()
