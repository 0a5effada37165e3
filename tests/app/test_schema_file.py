"""The committed SDL (graphql/schema.graphql) matches the schema the code builds."""

from pathlib import Path

from app.graphql.export import sdl


def test_schema_file_is_up_to_date(repo_root: Path) -> None:
    committed = (repo_root / "graphql" / "schema.graphql").read_text()
    assert committed == sdl(), "graphql/schema.graphql is stale: run `make schema`"
