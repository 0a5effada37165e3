"""The README's configuration table, generated from the settings classes so it stays true.

`python -m app.configdoc --write README.md` replaces the table between the markers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from app.config import Settings

START = "<!-- config:start -->"
END = "<!-- config:end -->"


def _default(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "(secret)" if value.get_secret_value() else "—"
    if value in (None, "", [], {}):
        return "—"
    return f"`{value}`"


def _rows(model: type[BaseSettings]) -> list[str]:
    prefix = str(model.model_config.get("env_prefix", ""))
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            continue
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{(prefix + name).upper()}` | {_default(default)} | {description} |")
    return rows


def table() -> str:
    """The markdown table of every environment variable."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += _rows(Settings)
    for field in Settings.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            lines += _rows(annotation)
    return "\n".join(lines)


def render(readme: str) -> str:
    """`readme` with the table between the markers replaced."""
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        path = Path(sys.argv[2])
        path.write_text(render(path.read_text()))
    else:
        sys.stdout.write(table() + "\n")
