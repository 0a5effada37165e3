"""Strawberry's name conversion, remembered.

Strawberry converts each argument's Python name to its GraphQL name again on every call of a
resolver with arguments (`convert_arguments`), and the conversion is a split, a generator
and a join. The names are the schema's own, a fixed set, so each is converted once.
"""

from __future__ import annotations

from strawberry.schema.name_converter import NameConverter


class RememberedNames(NameConverter):
    """Strawberry's NameConverter, converting each Python name once."""

    def __init__(self, auto_camel_case: bool = True) -> None:
        super().__init__(auto_camel_case)
        self._converted: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        """The GraphQL name for `name` (camelCase when the schema asks for it)."""
        converted = self._converted.get(name)
        if converted is None:
            converted = self._converted[name] = super().apply_naming_config(name)
        return converted
