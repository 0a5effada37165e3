"""API key rules: admins create and revoke keys; a secret key never outranks its creator;
keys are shown once and stored hashed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.cache.commit import cache_of, shares
from app.cache.local import LocalTier
from app.cache.tiered import TwoLevelCache
from app.db.ids import uuid7
from app.db.tenant import set_tenant
from app.errors import NotFound, ValidationFailed
from app.pagination import Page, PageRequest, make_page
from app.validation import clean_text
from billing.entitlements import service as entitlements
from billing.entitlements.limits import Limit
from tenancy.apikeys import cache as key_cache
from tenancy.apikeys import repository
from tenancy.apikeys.cache import KeyInfo
from tenancy.apikeys.models import ApiKey
from tenancy.apikeys.origins import normalize_origins
from tenancy.audit import service as audit
from tenancy.principal import Principal, Role
from tenancy.security import parse_scoped_token, scoped_token, token_hash

SECRET_PREFIX = "sk"
PUBLISHABLE_PREFIX = "pk"
MAX_ACTIVE_KEYS = 50


@dataclass(frozen=True, slots=True)
class KeyCreated:
    """A new key and its full text, which is never shown again."""

    key: ApiKey
    plaintext: str


async def _create(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str,
    name: str,
    role: Role | None,
    origins: list[str],
) -> KeyCreated:
    workspace_id = principal.require_role(Role.ADMIN)
    name = clean_text(name, field="name", max_length=100)
    if await repository.count_active_keys(session, workspace_id, kind) >= MAX_ACTIVE_KEYS:
        raise ValidationFailed(
            f"A workspace can have at most {MAX_ACTIVE_KEYS} active {kind} keys."
        )
    if kind == "publishable":
        await entitlements.require(session, workspace_id, Limit.PUBLISHABLE_KEYS)
    prefix = SECRET_PREFIX if kind == "secret" else PUBLISHABLE_PREFIX
    plaintext = scoped_token(prefix, workspace_id)
    key = ApiKey(
        workspace_id=workspace_id,
        id=uuid7(),
        kind=kind,
        name=name,
        role=role.value if role else None,
        secret_hash=token_hash(plaintext),
        last_four=plaintext[-4:],
        allowed_origins=origins,
        created_by=principal.user_id,
    )
    await repository.insert_key(session, key)
    await audit.record(
        session,
        principal,
        "api_key.created",
        target_type="api_key",
        target_id=key.id,
        details={"kind": kind, "name": name, "role": key.role, "origins": origins},
    )
    return KeyCreated(key, plaintext)


async def create_secret_key(
    session: AsyncSession, principal: Principal, *, name: str, role: str
) -> KeyCreated:
    """A secret key acting as admin or member; never above the creator's own role."""
    try:
        key_role = Role(role.lower())
    except ValueError as exc:
        raise ValidationFailed("role must be admin or member.", field="role") from exc
    if key_role is Role.OWNER:
        raise ValidationFailed("A key cannot act as owner; use admin or member.", field="role")
    return await _create(session, principal, kind="secret", name=name, role=key_role, origins=[])


async def create_publishable_key(
    session: AsyncSession, principal: Principal, *, name: str, allowed_origins: list[str]
) -> KeyCreated:
    """A publishable key for the widget, usable only from the allowed origins."""
    origins = normalize_origins(allowed_origins)
    if not origins:
        raise ValidationFailed(
            "A publishable key needs at least one allowed origin.", field="allowedOrigins"
        )
    return await _create(
        session, principal, kind="publishable", name=name, role=None, origins=origins
    )


async def revoke_key(session: AsyncSession, principal: Principal, *, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key at once."""
    workspace_id = principal.require_role(Role.ADMIN)
    if not await repository.revoke_key(session, workspace_id, key_id):
        raise NotFound("No such active key.")
    await audit.record(
        session, principal, "api_key.revoked", target_type="api_key", target_id=key_id
    )
    key = await repository.get_key(session, workspace_id, key_id)
    assert key is not None
    key_cache.forget(session, workspace_id, key_id, key.secret_hash)
    return key


async def set_allowed_origins(
    session: AsyncSession, principal: Principal, *, key_id: uuid.UUID, allowed_origins: list[str]
) -> ApiKey:
    """Replace a publishable key's origin allowlist."""
    workspace_id = principal.require_role(Role.ADMIN)
    key = await repository.get_key(session, workspace_id, key_id)
    if key is None or key.revoked_at is not None:
        raise NotFound("No such active key.")
    if key.kind != "publishable":
        raise ValidationFailed("Only publishable keys have allowed origins.", field="id")
    origins = normalize_origins(allowed_origins)
    if not origins:
        raise ValidationFailed(
            "A publishable key needs at least one allowed origin.", field="allowedOrigins"
        )
    await repository.set_origins(session, workspace_id, key_id, origins)
    key_cache.forget(session, workspace_id, key_id, key.secret_hash)
    await audit.record(
        session,
        principal,
        "api_key.origins_changed",
        target_type="api_key",
        target_id=key_id,
        details={"origins": origins},
    )
    key.allowed_origins = origins
    return key


async def forget_all(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Before the workspace is deleted: once that commits, no process serves its keys from a
    cache."""
    for key_id, secret_hash in await repository.fingerprints(session, workspace_id):
        key_cache.forget(session, workspace_id, key_id, secret_hash)


async def list_keys(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    kind: str | None,
    include_revoked: bool,
) -> Page[ApiKey]:
    """The workspace's keys (admins and owners)."""
    workspace_id = principal.require_role(Role.ADMIN)
    rows = await repository.list_keys(
        session, workspace_id, page, kind=kind, include_revoked=include_revoked
    )
    return make_page(rows, page)


async def find_by_plaintext(
    cache: TwoLevelCache[KeyInfo] | None,
    plaintext: str,
    kind: str,
    load: Callable[[uuid.UUID, bytes], Awaitable[ApiKey | None]],
    *,
    share: bool = True,
) -> tuple[uuid.UUID, KeyInfo | None] | None:
    """The one way a presented key is checked: None when `plaintext` is not shaped like a
    key of `kind`; otherwise the workspace it names and its active key of that kind (None
    when there is none), through the hot cache, with `load(workspace_id, secret_hash)` as
    the database read."""
    prefix = SECRET_PREFIX if kind == "secret" else PUBLISHABLE_PREFIX
    workspace_id = parse_scoped_token(plaintext, prefix)
    if workspace_id is None or len(plaintext) > 200:
        return None
    secret_hash = token_hash(plaintext)
    key = await key_cache.lookup(
        cache,
        workspace_id,
        key_cache.by_hash(workspace_id, secret_hash),
        lambda: load(workspace_id, secret_hash),
        share=share,
    )
    return workspace_id, key if key is not None and key.kind == kind else None


async def authenticate(
    session: AsyncSession, plaintext: str, kind: str, *, touch: bool = True
) -> KeyInfo | None:
    """The active key matching `plaintext`, with the transaction scoped to its workspace; on
    failure the tenant is left (or set back to) empty so nothing of the named workspace is
    readable. Read through the hot cache (tenancy/apikeys/cache.py). `touch=False` skips
    recording the use (read-only transactions on a replica, whose reads are not shared)."""
    scoped = False

    async def load(workspace_id: uuid.UUID, secret_hash: bytes) -> ApiKey | None:
        nonlocal scoped
        await set_tenant(session, workspace_id)
        scoped = True
        return await repository.find_active_key(session, workspace_id, secret_hash)

    found = await find_by_plaintext(
        cache_of(session, key_cache.SPEC), plaintext, kind, load, share=touch and shares(session)
    )
    key = found[1] if found is not None else None
    if found is None or key is None:
        if scoped:
            await set_tenant(session, None)
        return None
    if not scoped:
        await set_tenant(session, found[0])
    if touch and _touch_due(key.id):
        await repository.touch_key(session, found[0], key.id)
    return key


async def active_key(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> KeyInfo | None:
    """The key `key_id` if it is still active, read through the hot cache; the transaction
    must already be scoped to `workspace_id` (widget visitors name their key by id)."""
    return await key_cache.lookup(
        cache_of(session, key_cache.SPEC),
        workspace_id,
        key_cache.by_id(workspace_id, key_id),
        lambda: repository.get_key(session, workspace_id, key_id),
        share=shares(session),
    )


# The database records a key's use at most once a minute; asking it on every request costs a
# statement each time, so each process asks at most once a minute per key.
_TOUCH_EVERY_S = 60.0
_touched = LocalTier(10_000)


def _touch_due(key_id: uuid.UUID) -> bool:
    now = time.monotonic()
    key = str(key_id)
    if _touched.get(key, now) is not None:
        return False
    _touched.put(key, True, _TOUCH_EVERY_S, now, _touched.generation)
    return True
