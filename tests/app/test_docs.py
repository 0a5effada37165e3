"""Generated documentation stays in step with the code."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings

from app.config import Settings
from app.configdoc import render


def test_readme_configuration_table_is_current(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    assert readme == render(readme), "README configuration table is stale: run `make docs`"


def test_every_setting_is_described() -> None:
    sections: list[type[BaseSettings]] = [Settings]
    for field in Settings.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
            sections.append(field.annotation)
    missing = [
        f"{section.__name__}.{name}"
        for section in sections
        for name, field in section.model_fields.items()
        if not field.description
        and not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings))
    ]
    assert missing == []
