"""Expected errors: each carries a stable code and the HTTP status it maps to.

Services raise these; the GraphQL layer shows them to clients unmasked with
`extensions.code`, and nothing reports them to Sentry as failures. Anything else that escapes
is a bug: clients see a masked "Unexpected error." and the logs get the full traceback.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable, documented error codes."""

    VALIDATION = "VALIDATION"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"
    BAD_REQUEST = "BAD_REQUEST"


class ParleyError(Exception):
    """Base of every expected failure."""

    code: ErrorCode = ErrorCode.BAD_REQUEST
    status_code: int = 400

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = {k: v for k, v in extensions.items() if v is not None}

    def as_extensions(self) -> dict[str, Any]:
        """What clients see under `extensions`."""
        return {"code": self.code.value, **self.extensions}


class ValidationFailed(ParleyError):
    """Input that breaks a rule; `field` names the offending input."""

    code = ErrorCode.VALIDATION
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, **extensions: Any) -> None:
        super().__init__(message, field=field, **extensions)
        self.field = field


class Unauthenticated(ParleyError):
    """No valid credentials."""

    code = ErrorCode.UNAUTHENTICATED
    status_code = 401


class Forbidden(ParleyError):
    """Credentials are valid but do not allow this."""

    code = ErrorCode.FORBIDDEN
    status_code = 403


class NotFound(ParleyError):
    """Nothing with that id exists for this caller (other tenants' rows look exactly the same)."""

    code = ErrorCode.NOT_FOUND
    status_code = 404


class Conflict(ParleyError):
    """The request collides with existing state (duplicate slug, already a member...)."""

    code = ErrorCode.CONFLICT
    status_code = 409


class QuotaExceeded(ParleyError):
    """The workspace's plan does not allow more of this until the limit resets."""

    code = ErrorCode.QUOTA_EXCEEDED
    status_code = 402


class RateLimited(ParleyError):
    """Too many requests; `retry_after` says when to come back."""

    code = ErrorCode.RATE_LIMITED
    status_code = 429


class Unavailable(ParleyError):
    """A dependency is down; retrying later may work."""

    code = ErrorCode.UNAVAILABLE
    status_code = 503
