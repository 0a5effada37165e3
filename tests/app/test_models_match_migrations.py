"""The SQLAlchemy models and the hand-written migrations describe the same schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.db.base import Base
from app.db.engine import sqlalchemy_url
from app.db.models_registry import import_all_models


def _kind(diff: Any) -> str:
    return str(diff[0][0] if isinstance(diff, list) else diff[0])


def _compare(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    # Server defaults are compared loosely by Alembic and report equivalent expressions as
    # different; everything structural (tables, columns, types, nullability, keys, indexes,
    # foreign keys) must match.
    return [d for d in compare_metadata(context, Base.metadata) if _kind(d) != "modify_default"]


async def test_models_match_the_migrated_database(settings: Settings) -> None:
    import_all_models()
    engine = create_async_engine(sqlalchemy_url(settings.database.admin_url))
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(_compare)
    finally:
        await engine.dispose()
    assert diffs == []
