"""The session of one request: its transaction begun without a round trip, and closed
without one when it has already ended.

`async with sessions() as session: await session.begin()` goes through a greenlet to begin
(nothing to wait for: the connection is checked out by the first statement) and, on exit,
through a new task, a shield and a greenlet to close, though after COMMIT or ROLLBACK the
connection is already back in the pool and closing only forgets the session's objects. On
every request that came to three greenlet switches and a task (ops/bench/graphql_path.py,
docs/BENCHMARKS.md, "Fifth pass"). Here both run directly on the synchronous session when
they have nothing to wait for; a session still in a transaction on exit (an error before
COMMIT) is closed the way SQLAlchemy closes it, shielded from cancellation.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class RequestSession:
    """`async with RequestSession(sessions) as session`: a new session with its transaction
    begun; on exit, closed (rolling back whatever transaction is still open)."""

    __slots__ = ("session",)

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.session = sessions()

    async def __aenter__(self) -> AsyncSession:
        # Session.begin does no I/O: it only records that a transaction has begun.
        self.session.sync_session.begin()
        return self.session

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self.session
        if session.sync_session.in_transaction():
            await session.__aexit__(kind, error, traceback)  # returns the connection
        else:
            session.sync_session.close()  # holds no connection: only forgets its objects
