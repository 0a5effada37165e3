"""The transaction of one request, begun and ended on the driver.

A request's transaction used to be the SQLAlchemy session's: BEGIN, the tenant settings
and COMMIT all went through the session, its connection and the asyncpg adapter, with a
greenlet switch at each step. Most dashboard requests never use the ORM at all: their
statements are the hot reads and writes of app/db/raw.py. Moving the transaction to the
driver took an authenticated `{ __typename }` from 2.99 M to 2.59 M instructions, and the
dashboard's page from 6.87 M to 6.36 M (docs/BENCHMARKS.md, "Sixth pass").

So a request now checks a connection out of the engine's pool (the same pool, the same
limits and gauges), begins its transaction with asyncpg itself, and runs authentication and
the raw statements on the driver. The request's session is bound to that connection. When a
service does use the ORM, the asyncpg adapter begins its transaction as it always does,
which, inside the request's, asyncpg makes a SAVEPOINT; the session's commit releases it, and
only the request's COMMIT ends the transaction. So everything stays one transaction with one
tenant, under the same row-level security; an ORM-using request pays two short statements
(SAVEPOINT, RELEASE) for it.

The cache's invalidations wait for the request's COMMIT, not the session's (which only
releases the savepoint): see `app.cache.commit.request_committed`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import asyncpg
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.cache.commit import request_committed, request_ended
from app.db.raw import REQUEST_DRIVER


class RequestTransaction:
    """`async with RequestTransaction(sessions) as session:` a session bound to a checked-out
    connection whose transaction has begun; end it with `commit()` or `rollback()`. On exit a
    transaction still open (an error, a cancellation) is rolled back, and the connection goes
    back to the pool, or is discarded when its state is unknown."""

    __slots__ = ("_connection", "_driver", "_transaction", "session")

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.session = sessions()
        self._connection: AsyncConnection | None = None
        self._driver: asyncpg.Connection | None = None
        self._transaction: asyncpg.transaction.Transaction | None = None

    async def __aenter__(self) -> AsyncSession:
        engine = self.session.bind
        if not isinstance(engine, AsyncEngine):
            raise TypeError("request sessions must come from a factory bound to an engine")
        connection = await engine.connect()
        self._connection = connection
        try:
            # The pooled connection's asyncpg connection (checked out by connect()).
            driver: asyncpg.Connection = _sync(connection).connection.driver_connection
            self._driver = driver
            self._transaction = driver.transaction()
            await self._transaction.start()
        except Exception:
            try:
                # Let SQLAlchemy meet the failure on a statement of its own: it tells a lost
                # connection from other errors and, for one, invalidates the whole pool (a
                # restarted server leaves every pooled connection dead) and raises its
                # disconnect error, which the API answers with 503.
                await connection.exec_driver_sql("SELECT 1")
            finally:
                await self._release(broken=True)
            raise  # SQLAlchemy's statement worked: the failure was something else
        except BaseException:
            await asyncio.shield(self._release(broken=True))
            raise
        self.session.bind = connection
        self.session.info[REQUEST_DRIVER] = driver
        return self.session

    async def commit(self) -> None:
        """Flush what the session holds, then COMMIT; the cache's invalidations follow."""
        # A session that has read, added or deleted anything is in a transaction of its own.
        if self.session.sync_session.in_transaction():
            await self.session.commit()  # flushes, and releases the ORM's savepoint
        await self._end(commit=True)

    async def rollback(self) -> None:
        """ROLLBACK everything the request did; its pending invalidations are dropped."""
        try:
            if self.session.sync_session.in_transaction():
                await self.session.rollback()  # the ORM's savepoint first: asyncpg tracks it
        finally:
            await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        assert self._transaction is not None
        # Statements after this (the outbox's cleanup) run in transactions of their own,
        # begun by the session as anywhere else.
        self.session.info.pop(REQUEST_DRIVER, None)
        try:
            if commit:
                await self._transaction.commit()
                request_committed(self.session)
            elif not self._transaction_lost():
                await self._transaction.rollback()
        finally:
            request_ended(self.session)

    @property
    def _open(self) -> bool:
        # Begun and not yet ended: the session carries the driver only meanwhile.
        return REQUEST_DRIVER in self.session.info

    def _transaction_lost(self) -> bool:
        # SQLAlchemy closes a connection whose statement was interrupted (a resolver cancelled
        # beside a failing one): the server has rolled the transaction back with it.
        return self._driver is None or self._driver.is_closed()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._open and self._returns_as_is():
            self._return_now()  # the common case: nothing to roll back or wait for
        else:
            # Shielded: a cancelled request must still give back a clean connection.
            await asyncio.shield(self._close())

    async def _close(self) -> None:
        broken = False
        if self._open:
            try:
                await self.rollback()
            except Exception:
                broken = True  # the connection's state is unknown: discard it
        await self._release(broken=broken)

    def _returns_as_is(self) -> bool:
        # True when the session holds no transaction and the connection is open and idle.
        driver, connection = self._driver, self._connection
        return (
            not self.session.sync_session.in_transaction()
            and connection is not None
            and driver is not None
            and not driver.is_closed()
            and not driver.is_in_transaction()
            and not _sync(connection).in_transaction()
        )

    def _return_now(self) -> None:
        sync = self.session.sync_session
        # Closing only forgets the session's objects; a session that holds none (every
        # request that stayed on the driver) is left as it is: its first close builds the
        # session's event dispatcher, about 50,000 instructions (2 % of an authenticated
        # `{ __typename }`, ops/bench/graphql_path.py).
        if sync.identity_map or sync.new or sync.deleted:
            sync.close()
        if self._connection is not None:
            _sync(self._connection).close()  # back to the pool, without a greenlet switch

    async def _release(self, *, broken: bool) -> None:
        if self.session.sync_session.in_transaction():
            await self.session.close()
        if not broken and self._returns_as_is():
            self._return_now()
            return
        self.session.sync_session.close()
        if self._connection is not None:
            await self._connection.invalidate()
            await self._connection.close()


def _sync(connection: AsyncConnection) -> Connection:
    sync = connection.sync_connection
    assert sync is not None  # set by connect()
    return sync
