"""Custom scalars, registered on the schema through StrawberryConfig.scalar_map."""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from app.errors import ValidationFailed

# GraphQL's Int is 32-bit; byte counts, token counts and money in minor units are not.
BigInt = NewType("BigInt", int)

_JS_SAFE = 2**53 - 1


def _serialize_bigint(value: Any) -> int:
    return int(value)


def _parse_bigint(value: Any) -> int:
    if isinstance(value, bool):
        raise ValidationFailed("Expected a whole number.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.lstrip("-").isdigit():
        number = int(value)
    else:
        raise ValidationFailed("Expected a whole number.")
    if abs(number) > _JS_SAFE:
        raise ValidationFailed(f"Whole numbers are limited to ±{_JS_SAFE}.")
    return number


SCALARS: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="A whole number beyond 32 bits (bytes, tokens, money in minor units), "
        "sent as a JSON number no larger than 2^53-1.",
        serialize=_serialize_bigint,
        parse_value=_parse_bigint,
    ),
}
