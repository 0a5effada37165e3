"""Permission classes for fields that need a kind of caller before any resolver runs."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.errors import Unauthenticated
from tenancy.principal import PrincipalKind


class IsUser(BasePermission):
    """The caller is a logged-in user."""

    message = "Log in to do this."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        """Checked before the resolver runs."""
        if info.context.principal.kind is not PrincipalKind.USER:
            raise Unauthenticated(self.message)
        return True


class IsDashboardCaller(BasePermission):
    """A user or a secret key: the credentials of a workspace's own team and servers, never
    the widget's publishable key or visitor tokens."""

    message = "This operation is not available to this credential."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        """Checked before the resolver runs."""
        kind = info.context.principal.kind
        if kind is PrincipalKind.ANONYMOUS:
            raise Unauthenticated("Log in or present an API key to do this.")
        if kind not in (PrincipalKind.USER, PrincipalKind.SECRET_KEY):
            from app.errors import Forbidden

            raise Forbidden(self.message)
        return True
