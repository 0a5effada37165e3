"""Every operation document in graphql/operations/ is valid against the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import parse, validate

from app.config import Settings
from app.graphql.schema import build_schema

OPERATIONS = sorted(
    (Path(__file__).resolve().parents[2] / "graphql" / "operations").rglob("*.graphql")
)


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_operation_document_is_valid(path: Path) -> None:
    schema = build_schema(Settings(env="development"))._schema
    errors = validate(schema, parse(path.read_text()))
    assert errors == [], [e.message for e in errors]
