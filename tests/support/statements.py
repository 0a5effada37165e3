"""Every statement the app sends to PostgreSQL, whichever way it goes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import raw


@contextlib.contextmanager
def observing(engine: AsyncEngine, record: Callable[[str], None]) -> Iterator[None]:
    """Call `record` with the SQL of each statement sent while the block runs: through
    SQLAlchemy (the engine's cursor events) or on the driver (app/db/raw.py's observers)."""

    def through_sqlalchemy(conn: object, cursor: object, statement: str, *args: object) -> None:
        record(statement)

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", through_sqlalchemy)
    raw.statement_observers.append(record)
    try:
        yield
    finally:
        event.remove(sync_engine, "before_cursor_execute", through_sqlalchemy)
        raw.statement_observers.remove(record)
