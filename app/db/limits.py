"""Row limits written into a statement's text instead of passed as parameters.

Every statement runs prepared (asyncpg, and SQLAlchemy's asyncpg adapter). PostgreSQL plans a
prepared statement for its parameters' values at first, and moves to one generic plan when
that plan looks no dearer. A generic plan cannot know how small `LIMIT $n` is: it assumes a
tenth of the rows, so for `ORDER BY id DESC LIMIT $n` over more than a handful of rows the
generic plan looks dearer and the statement is planned again on every execution. For the
dashboard's documents page that was about 110 us of the database's CPU per page, more than
executing it (measured with pg_stat_statements and track_planning; docs/BENCHMARKS.md,
"Eighth pass"). With the limit in the text the generic plan is as good as a custom one and
is kept.

Pages have 1 to 101 rows (PAGE_SIZE_MAX + 1), and a dashboard asks for few of those lengths,
so each page statement has few variants in the statement caches.
"""

from __future__ import annotations

from sqlalchemy import Integer, literal_column
from sqlalchemy.sql.elements import ColumnElement

from app.pagination import PageRequest


def rows(count: int) -> ColumnElement[int]:
    """`count` (an int, never input text) as a literal for `.limit()`."""
    return literal_column(str(int(count)), Integer)


def page_rows(page: PageRequest) -> ColumnElement[int]:
    """The limit of a page query (`PageRequest.fetch`)."""
    return rows(page.fetch)
