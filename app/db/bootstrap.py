"""Database bootstrap and migrations: roles, database, extensions, then Alembic to head.

Runs over the admin connection. Creating roles and the `vector` extension needs a superuser
(or a managed service's equivalent); where the admin connection lacks that, those steps are
expected to have been done by the operator and are skipped when already present.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from app.config import DatabaseSettings
from app.db.engine import asyncpg_dsn, sqlalchemy_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def _database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe SQL identifier: {name!r}")
    return f'"{name}"'


async def _bootstrap(settings: DatabaseSettings) -> None:
    admin = asyncpg_dsn(settings.admin_url)
    database = _database_name(admin)
    maintenance = await asyncpg.connect(_with_database(admin, "postgres"))
    try:
        exists = await maintenance.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", database
        )
        if not exists:
            log.info("creating database %s", database)
            await maintenance.execute(f"CREATE DATABASE {_ident(database)}")
    finally:
        await maintenance.close()

    conn = await asyncpg.connect(admin)
    try:
        owner, app = _ident(settings.owner_role), _ident(settings.app_role)
        roles = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
        if settings.owner_role not in roles:
            await conn.execute(f"CREATE ROLE {owner} NOLOGIN")
        if settings.app_role not in roles:
            await conn.execute(
                f"CREATE ROLE {app} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
            )
        if settings.app_password is not None:
            # Parameters cannot be bound in utility statements; quote the literal safely.
            literal = await conn.fetchval(
                "SELECT quote_literal($1)", settings.app_password.get_secret_value()
            )
            await conn.execute(f"ALTER ROLE {app} PASSWORD {literal}")
        # Maintenance role: lists workspace ids for retention and exports (see
        # app/db/maintenance.py). NOINHERIT membership: the application role holds none of its
        # rights until it explicitly runs SET ROLE.
        maintenance = _ident(settings.maintenance_role)
        if settings.maintenance_role not in roles:
            await conn.execute(f"CREATE ROLE {maintenance} NOLOGIN NOBYPASSRLS")
        await conn.execute(f"GRANT USAGE ON SCHEMA public TO {maintenance}")
        await conn.execute(f"GRANT {maintenance} TO {app} WITH INHERIT FALSE, SET TRUE")
        is_member = await conn.fetchval(
            "SELECT pg_has_role(current_user, $1, 'MEMBER')", settings.owner_role
        )
        if not is_member:
            await conn.execute(f"GRANT {owner} TO current_user")
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.execute(f"GRANT CONNECT ON DATABASE {_ident(database)} TO {app}")
        await conn.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {owner}")
        await conn.execute(f"GRANT USAGE ON SCHEMA public TO {app}")
    finally:
        await conn.close()


def alembic_config(admin_url: str) -> Config:
    """An Alembic configuration pointing at our migrations and the admin connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(admin_url).replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest migration revision in the source tree."""
    script = ScriptDirectory.from_config(alembic_config("postgresql+asyncpg:///x"))
    return script.get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at (None before the first migration)."""
    return MigrationContext.configure(connection).get_current_revision()


def migrate(settings: DatabaseSettings) -> None:
    """Bootstrap roles and extensions, then upgrade the schema to head. Idempotent.

    Synchronous because Alembic's environment runs its own event loop; async callers use
    `asyncio.to_thread(migrate, settings)`.
    """
    asyncio.run(_bootstrap(settings))
    command.upgrade(alembic_config(settings.admin_url), "head")
