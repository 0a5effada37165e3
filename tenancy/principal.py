"""Who is calling: the principal every service receives explicitly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from app.errors import Forbidden, Unauthenticated


class Role(StrEnum):
    """Workspace roles, from most to least powerful."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def rank(self) -> int:
        """Higher ranks include the powers of lower ones."""
        return _RANKS[self]

    def at_least(self, other: Role) -> bool:
        """True when this role has every power of `other`."""
        return _RANKS[self] >= _RANKS[other]


# Built once: every authenticated request compares roles.
_RANKS = {Role.OWNER: 3, Role.ADMIN: 2, Role.MEMBER: 1}


class PrincipalKind(StrEnum):
    """How the caller authenticated."""

    ANONYMOUS = "anonymous"
    USER = "user"
    SECRET_KEY = "secret_key"
    PUBLISHABLE_KEY = "publishable_key"
    VISITOR = "visitor"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller and, when one was chosen, its workspace and role there."""

    kind: PrincipalKind
    user_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    workspace_id: uuid.UUID | None = None
    role: Role | None = None
    key_id: uuid.UUID | None = None
    visitor_id: str | None = None
    ip: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def anonymous(cls, ip: str | None = None) -> Principal:
        """A caller with no credentials."""
        return cls(kind=PrincipalKind.ANONYMOUS, ip=ip)

    @property
    def actor_id(self) -> uuid.UUID | None:
        """The id recorded as the actor in the audit log."""
        return self.user_id or self.key_id

    def require_user(self) -> uuid.UUID:
        """The logged-in user's id, or UNAUTHENTICATED."""
        if self.kind is not PrincipalKind.USER or self.user_id is None:
            raise Unauthenticated("Log in to do this.")
        return self.user_id

    def require_workspace(self) -> uuid.UUID:
        """The current workspace, or an error saying how to choose one."""
        if self.kind is PrincipalKind.ANONYMOUS:
            raise Unauthenticated("Log in or present an API key to do this.")
        if self.workspace_id is None or (self.role is None and self.kind is PrincipalKind.USER):
            raise Forbidden(
                "No workspace selected: send the X-Workspace-Id header with a workspace you "
                "belong to."
            )
        return self.workspace_id

    def require_role(self, minimum: Role) -> uuid.UUID:
        """The current workspace, if the caller's role there is at least `minimum`."""
        workspace_id = self.require_workspace()
        if self.kind not in (PrincipalKind.USER, PrincipalKind.SECRET_KEY, PrincipalKind.SYSTEM):
            raise Forbidden("This credential cannot manage the workspace.")
        if self.role is None or not self.role.at_least(minimum):
            raise Forbidden(f"This needs the {minimum.value} role in the workspace.")
        return workspace_id
