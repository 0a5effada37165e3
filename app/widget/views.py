"""What a widget's configuration looks like to its readers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.widget.models import WidgetConfig


@dataclass(frozen=True, slots=True)
class ConfigView:
    """A key's widget configuration, defaults filled in. Immutable (tuples), since the hot
    cache hands the same object to every request (app/cache)."""

    key_id: uuid.UUID
    title: str = "Ask us anything"
    greeting: str = "Hi! Ask me a question and I will answer from our documentation."
    primary_color: str = "#2563eb"
    position: str = "bottom-right"
    suggested_questions: tuple[str, ...] = ()
    lead_capture: bool = True
    lead_fields: tuple[str, ...] = ("name", "email")
    language: str = "en"
    require_identity: bool = False
    identity_secret_version: int = 1

    @classmethod
    def of(cls, key_id: uuid.UUID, row: WidgetConfig | None) -> ConfigView:
        """The stored configuration, or the defaults."""
        if row is None:
            return cls(key_id=key_id)
        return cls(
            key_id=key_id,
            title=row.title,
            greeting=row.greeting,
            primary_color=row.primary_color,
            position=row.position,
            suggested_questions=tuple(row.suggested_questions),
            lead_capture=row.lead_capture,
            lead_fields=tuple(row.lead_fields),
            language=row.language,
            require_identity=row.require_identity,
            identity_secret_version=row.identity_secret_version,
        )
