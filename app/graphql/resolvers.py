"""Plain fields read straight from their object.

Strawberry resolves a field without a resolver through two Python calls (a wrapper, then
`StrawberryField.get_result`, then `getattr`). A page of 20 documents has over a hundred such
fields, so after the schema is built each of them gets a resolver that does only the
`getattr`. Fields with a resolver, permission classes, field extensions or exception
handlers keep Strawberry's resolver; so does everything if the schema uses another default
resolver than `getattr`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry.types.field import StrawberryField

_STRAWBERRY = "strawberry-definition"
_BASIC = "_get_basic_result"  # the name Strawberry gives its resolver of plain fields


def _attribute(name: str) -> Callable[..., Any]:
    def resolve(source: Any, _info: Any, **_args: Any) -> Any:
        return getattr(source, name)

    resolve._is_default = True  # type: ignore[attr-defined] # tracing skips it, as Strawberry's
    return resolve


def direct_plain_fields(schema: strawberry.Schema) -> int:
    """Give every plain field of `schema` a direct attribute resolver; returns how many."""
    if schema.config.default_resolver is not getattr:
        return 0
    replaced = 0
    for named in schema._schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            definition = (field.extensions or {}).get(_STRAWBERRY)
            resolve = field.resolve
            if (
                isinstance(definition, StrawberryField)
                and definition.is_basic_field
                and not definition.extensions
                and getattr(resolve, "__name__", None) == _BASIC
            ):
                field.resolve = _attribute(definition.python_name)
                replaced += 1
    return replaced
