"""Keeping loaded rows in step with UPDATE statements already sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm.attributes import set_committed_value


def mirror(row: Any, **values: Any) -> None:
    """Set attributes of a loaded row to values an UPDATE statement already wrote, without
    marking the row dirty (a plain assignment would make the session write them again)."""
    for key, value in values.items():
        set_committed_value(row, key, value)
