"""What clients see of errors: expected ones as they are, bugs masked, no schema hints in
production."""

from __future__ import annotations

from graphql import GraphQLError

from app.errors import RateLimited
from app.graphql.errors import INTERNAL, INVALID_DOCUMENT, format_error, is_expected


def test_unexpected_errors_are_masked() -> None:
    secret = RuntimeError("connection string postgres://admin:hunter2@db")
    formatted = format_error(GraphQLError(str(secret), original_error=secret, path=["workspace"]))
    assert formatted.message == "Unexpected error."
    assert formatted.extensions == {"code": INTERNAL}
    assert "hunter2" not in str(formatted.formatted)
    assert formatted.path == ["workspace"]


def test_expected_errors_keep_their_message_and_code() -> None:
    error = RateLimited("Slow down.", retryAfter=3)
    formatted = format_error(GraphQLError(error.message, original_error=error))
    assert formatted.message == "Slow down."
    assert formatted.extensions == {"code": "RATE_LIMITED", "retryAfter": 3}


def test_bad_variables_are_the_clients_error_not_a_bug() -> None:
    inner = GraphQLError("Int cannot represent non-integer value: 'x'")
    outer = GraphQLError(
        "Variable '$n' got invalid value 'x'; " + inner.message, original_error=inner
    )
    assert is_expected(outer)
    assert format_error(outer).extensions == {"code": INVALID_DOCUMENT}


def test_suggestions_are_hidden_when_asked() -> None:
    error = GraphQLError("Cannot query field 'viewr' on type 'Query'. Did you mean 'viewer'?")
    assert format_error(error, hide_suggestions=True).message == (
        "Cannot query field 'viewr' on type 'Query'."
    )
    enum = GraphQLError(
        "Value 'OWNR' does not exist in 'Role' enum. Did you mean the enum value 'OWNER'?"
    )
    assert "Did you mean" not in format_error(enum, hide_suggestions=True).message
    assert format_error(error).message.endswith("Did you mean 'viewer'?")
