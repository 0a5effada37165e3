"""Page statements keep one generic plan instead of being planned again on every run
(app/db/limits.py): their row limit is in the text, not a parameter."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import column, select, table

from app.db import limits, raw
from app.db.engine import asyncpg_dsn
from app.db.tenant import tenant_transaction
from app.graphql.node import decode_id
from app.knowledge import repository
from app.pagination import PageRequest
from app.state import AppState
from tests.support.factories import Factory
from tests.support.services import TestServices

KINDS = ["text", "markdown", "html", "pdf"]
RUNS = 12  # PostgreSQL weighs a generic plan after five custom ones


async def _plans(connection: asyncpg.Connection, sql: str) -> tuple[int, int]:
    row = await connection.fetchrow(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
        sql,
    )
    assert row is not None, "the statement was not prepared on this connection"
    return row["generic_plans"], row["custom_plans"]


async def _fill(services: TestServices, workspace: uuid.UUID, count: int) -> None:
    # A workspace of some size: with a handful of rows any plan is cheap, and PostgreSQL
    # settles on a generic plan whatever the limit is.
    admin = await asyncpg.connect(asyncpg_dsn(services.admin_url))
    try:
        await admin.execute(
            """
            INSERT INTO documents (workspace_id, id, kind, title, filename, content_type,
                                   size_bytes, sha256, status, chunk_count)
            SELECT $1, uuidv7(), 'markdown', 'Filler ' || n, 'f' || n || '.md',
                   'text/markdown', 10, sha256(convert_to(n::text, 'UTF8')), 'ready', 0
            FROM generate_series(1, $2) AS n
            """,
            workspace,
            count,
        )
        await admin.execute("ANALYZE documents")
    finally:
        await admin.close()


async def test_a_documents_page_is_planned_once_then_reused(
    state: AppState, factory: Factory, services: TestServices
) -> None:
    tenant = await factory.tenant()
    workspace = decode_id(tenant.id, "Workspace")
    await _fill(services, workspace, 3000)
    page = PageRequest(limit=2, after=None)
    statement = repository._document_page(False, False, page.fetch, True)
    # The same statement with its limit as a parameter, as it was before.
    with_parameter = statement.sql.replace("LIMIT 3", f"LIMIT ${len(statement.params) + 1}")
    assert with_parameter != statement.sql
    async with tenant_transaction(state.sessions, workspace) as session:
        for _ in range(RUNS):
            found, _authors = await repository.list_documents_with_authors(
                session, workspace, page, kinds=KINDS
            )
            assert len(found) == 3  # two and one more: another page follows
        driver = await raw._driver(session)
        generic, custom = await _plans(driver, statement.sql)
        assert generic >= RUNS - 5 and custom <= 5, (generic, custom)

        prepared = await driver.prepare(with_parameter)
        params = {"workspace_id": workspace, "kinds": KINDS}
        for _ in range(RUNS):
            rows = await prepared.fetch(*(params[name] for name in statement.params), 3)
            assert len(rows) == 3
        generic, custom = await _plans(driver, with_parameter)
        assert generic == 0 and custom == RUNS, (generic, custom)  # planned every time


def test_row_limits_are_integers_in_the_text() -> None:
    sql = str(select(column("id")).select_from(table("t")).limit(limits.rows(7)))
    assert sql.endswith("LIMIT 7") and ":" not in sql
    assert str(limits.page_rows(PageRequest(limit=20, after=uuid.uuid4()))) == "21"
    with pytest.raises(ValueError):
        limits.rows("7; DROP TABLE t")  # type: ignore[arg-type]


def test_no_page_query_passes_its_limit_as_a_parameter(repo_root: Path) -> None:
    """A new page query copied from an old one would plan again on every request: the
    page's limit goes through `limits.page_rows`, never `.limit(page.limit + 1)`."""
    offenders = [
        f"{path.relative_to(repo_root)}:{number}"
        for folder in ("app", "tenancy", "billing")
        for path in sorted((repo_root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ".limit(page.limit" in line.replace(" ", "")
        or ".limit(request.limit" in line.replace(" ", "")
    ]
    assert offenders == []
