"""How errors leave the GraphQL layer.

Expected errors (ParleyError) keep their message and gain `extensions.code`; GraphQL syntax and
validation errors get code GRAPHQL_VALIDATION_FAILED; anything else is a bug: clients see a
masked "Unexpected error." with code INTERNAL_SERVER_ERROR, and the log gets the traceback.
A lost database connection under a resolver is an outage, not a bug: UNAVAILABLE.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.db.availability import database_unreachable
from app.errors import ParleyError, Unavailable

log = logging.getLogger("parley.graphql")

INTERNAL = "INTERNAL_SERVER_ERROR"
INVALID_DOCUMENT = "GRAPHQL_VALIDATION_FAILED"
# graphql-core's "Did you mean 'viewer'?" hints name fields, types and enum values: with
# introspection off they would leak the schema piece by piece.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
DATABASE_UNAVAILABLE = Unavailable("The service is temporarily unavailable; retry shortly.")


def _is_request_error(error: GraphQLError) -> bool:
    """Syntax, validation and variable-coercion errors: raised before any resolver ran (no
    path), or wrapping graphql-core's own error."""
    original = error.original_error
    return original is None or isinstance(original, GraphQLError) or not error.path


def is_expected(error: GraphQLError) -> bool:
    """True for errors the client caused or may rely on: not a bug in Parley."""
    return isinstance(error.original_error, ParleyError) or _is_request_error(error)


def lost_database(error: GraphQLError) -> BaseException | None:
    """The driver's exception when `error` is the database going away under a resolver (an
    outage to retry, not a bug), else None."""
    original = error.original_error
    return original if original is not None and database_unreachable(original) else None


def format_error(error: GraphQLError, hide_suggestions: bool = False) -> GraphQLError:
    """The client-facing version of an error (idempotent: formatting twice changes nothing;
    without "Did you mean" hints if asked)."""
    original = error.original_error
    if isinstance(original, ParleyError):
        return GraphQLError(
            original.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=original,
            extensions=original.as_extensions(),
        )
    if lost_database(error) is not None:
        # An outage, not a bug: the client is told to retry. The original stays attached so
        # the HTTP layer answers 503 (app/graphql/http.py).
        return GraphQLError(
            DATABASE_UNAVAILABLE.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=original,
            extensions=DATABASE_UNAVAILABLE.as_extensions(),
        )
    if _is_request_error(error):
        extensions = {"code": INVALID_DOCUMENT, **(error.extensions or {})}
        message = _SUGGESTION.sub("", error.message) if hide_suggestions else error.message
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )
    return GraphQLError(
        "Unexpected error.",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": INTERNAL},
    )


def log_errors(errors: list[GraphQLError]) -> None:
    """Log unexpected errors in full; expected ones are the client's business."""
    for error in errors:
        original = error.original_error
        if lost_database(error) is not None:
            log.warning("database unavailable under a resolver: %s", type(original).__name__)
        elif not is_expected(error):
            log.error(
                "unexpected error in GraphQL resolver at %s: %s",
                ".".join(str(p) for p in error.path or []),
                original,
                exc_info=(type(original), original, original.__traceback__) if original else None,
            )


class ErrorFormatter(SchemaExtension):
    """Rewrites the result's errors for clients once the operation is done."""

    def __init__(self, hide_suggestions: bool = False) -> None:
        super().__init__()
        self.hide_suggestions = hide_suggestions

    def on_operation(self) -> Iterator[None]:
        """Format errors after execution."""
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [format_error(e, self.hide_suggestions) for e in result.errors]


def error_codes(errors: list[GraphQLError] | None) -> list[str]:
    """The codes of formatted errors (for metrics and status mapping)."""
    return [str((e.extensions or {}).get("code", INTERNAL)) for e in errors or []]
