"""Alembic environment: runs migrations as the owner role over the admin connection.

`parley migrate` bootstraps roles, database and extensions first (app/db/bootstrap.py), then
calls Alembic, which lands here. Every statement runs after `SET ROLE <owner>`, so the tables
belong to the owner role and the application role owns nothing.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import get_settings
from app.db.base import Base
from app.db.models_registry import import_all_models

import_all_models()
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    settings = get_settings()
    connection.execute(text(f'SET ROLE "{settings.database.owner_role}"'))
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().database.admin_url
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run `parley migrate`")
asyncio.run(_main())
