"""Telling "the database is unreachable" apart from a bug, for answering 503 instead of 500.

A connection can fail before a request's first statement (refused, pool exhausted) or under a
resolver (the server restarted or terminated the backend mid-statement). SQLAlchemy flags
only some of the latter as disconnects, so the exception chain is searched for the driver's
own connection-level errors too.
"""

from __future__ import annotations

from asyncpg.exceptions import InterfaceError as DriverInterfaceError
from asyncpg.exceptions import (
    InternalClientError,
    OperatorInterventionError,
    PostgresConnectionError,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# Raised by SQLAlchemy or the network layer when no connection could be had or used.
_UNREACHABLE = (OperationalError, InterfaceError, PoolTimeout, OSError, ConnectionError)
# asyncpg: connection errors (SQLSTATE class 08), admin shutdown / starting up (class 57),
# and a connection left mid-protocol by a failure ("cannot switch to state ...").
_DRIVER = (PostgresConnectionError, OperatorInterventionError, InternalClientError)


def database_unreachable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) means the database could not be reached or the
    connection was lost, rather than a mistake in a query."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE + _DRIVER):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        # A statement on the driver (app/db/raw.py) over a connection already known lost;
        # asyncpg has no class of its own for it (SQLAlchemy matches the same words).
        if isinstance(current, DriverInterfaceError) and "connection is closed" in str(current):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False
