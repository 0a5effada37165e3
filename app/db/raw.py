"""Hot reads (and one bulk write) on the driver: the request's own asyncpg connection and
transaction, without SQLAlchemy's per-statement work.

A SQLAlchemy session spends about twice as long as the database round trip itself on a
small read (execution context, parameter processing, result rows; measured 360 us against
120 us for a page of documents). The dashboard's hottest reads run on every page view, so
they are written once as SQLAlchemy statements (one source of truth for columns and
filters), compiled once to the driver's SQL, and executed with asyncpg directly, inside the
same transaction as everything else in the request: row-level security and the tenant
settings apply exactly as to any other statement.

`execute` does the same for a write whose parameters are too bulky for SQLAlchemy's
handling (a document's chunks as parallel arrays, app/knowledge/repository.py).

In a request, the connection and its transaction are the request's own, begun on the driver
(app/db/request.py, `request_driver`); elsewhere (jobs, scripts) they are those of the
session's SQLAlchemy transaction, looked up once per transaction.

Statements run this way are announced to `statement_observers` (the query-count tests
count them with the rest). SQLAlchemy's events do not see them; Sentry's asyncpg integration
records them as database spans like any other statement (tests/ops/test_sentry.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Executable

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]

# Callbacks told the SQL of every statement run here (tests count statements with them).
statement_observers: list[Callable[[str], None]] = []


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement compiled to asyncpg's SQL, its parameter names in position order, and the
    statement itself (for `fetch_opening` outside a request)."""

    sql: str
    params: tuple[str, ...]
    clause: ClauseElement


def driver_statement(statement: ClauseElement) -> DriverStatement:
    """Compile `statement` once for `fetch` (no expanding IN parameters: use `= ANY(:array)`)."""
    compiled = statement.compile(dialect=_DIALECT)
    names = tuple(getattr(compiled, "positiontup", None) or ())
    if "POSTCOMPILE" in compiled.string:
        raise ValueError("expanding parameters cannot be compiled ahead; use = ANY(array)")
    return DriverStatement(compiled.string, names, statement)


async def fetch(
    session: AsyncSession, statement: DriverStatement, params: Mapping[str, Any]
) -> list[asyncpg.Record]:
    """Rows of `statement` run on the session's connection, in its open transaction."""
    connection = await _driver(session)
    for observe in statement_observers:
        observe(statement.sql)
    rows: list[asyncpg.Record] = await connection.fetch(
        statement.sql, *(params[name] for name in statement.params)
    )
    return rows


async def fetch_opening(
    session: AsyncSession, statement: DriverStatement, params: Mapping[str, Any]
) -> Sequence[Any]:
    """`fetch` for a statement that may be the first of its transaction (the tenant settings,
    authentication). In a request it runs on the driver like any other. Elsewhere (jobs,
    scripts, the WebSocket handshake) SQLAlchemy's adapter begins the driver's transaction
    only at a statement of its own, so it runs through the session. Read rows by position:
    they are asyncpg records in one case, SQLAlchemy rows in the other."""
    if request_driver(session) is not None:
        return await fetch(session, statement, params)
    # driver_statement is given selects and text(), which are executable.
    return (await session.execute(cast(Executable, statement.clause), params)).all()


async def execute(session: AsyncSession, sql: str, *args: Any) -> str:
    """Run `sql` (asyncpg's `$n` placeholders) on the session's connection, in its open
    transaction, for writes too bulky for SQLAlchemy's parameter handling; returns the
    command tag."""
    connection = await _driver(session)
    for observe in statement_observers:
        observe(sql)
    status: str = await connection.execute(sql, *args)
    return status


_DRIVER = "parley.raw.driver"  # session.info key: (the transaction, its driver connection)
# session.info key: the driver connection whose transaction the request began itself
# (app/db/request.py); present only while that transaction is open.
REQUEST_DRIVER = "parley.raw.request_driver"


def request_driver(session: AsyncSession | Session) -> asyncpg.Connection | None:
    """The driver connection of the request transaction `session` belongs to, or None for a
    session whose transaction SQLAlchemy begins (jobs, scripts, the WebSocket handshake)."""
    driver: asyncpg.Connection | None = session.info.get(REQUEST_DRIVER)
    return driver


async def _driver(session: AsyncSession) -> asyncpg.Connection:
    request = request_driver(session)
    if request is not None:
        return request
    # A transaction keeps one connection from begin to end, so the driver connection is
    # looked up once per transaction (two greenlet switches through SQLAlchemy each time)
    # and kept beside it; a new transaction, even on the same session, looks again, so a
    # connection back in the pool is never used.
    transaction = session.sync_session.get_transaction()
    known = session.info.get(_DRIVER)
    if transaction is not None and known is not None and known[0] is transaction:
        driver: asyncpg.Connection | None = known[1]
    else:
        fairy = await (await session.connection()).get_raw_connection()
        driver = fairy.driver_connection
        session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
    if driver is None or not driver.is_in_transaction():
        # The tenant settings are transaction-local: outside the request's transaction a
        # read would see no tenant (and so nothing). Refuse instead of answering empty.
        raise RuntimeError("raw reads need the session's transaction to have begun")
    return driver
