"""DateTime output: the text Strawberry's own DateTime writes (`isoformat`), every time."""

from __future__ import annotations

import datetime as dt
import random

from app.graphql.scalars import serialize_datetime


def test_utc_datetimes_are_written_as_isoformat_writes_them() -> None:
    rng = random.Random(7)
    years = [1, 9, 99, 999, 1000, 1970, 2026, 9999]
    for _ in range(20_000):
        value = dt.datetime(
            rng.choice([*years, rng.randint(1, 9999)]),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.choice([0, 1, 999_999, 100_000, rng.randint(0, 999_999)]),
            tzinfo=dt.UTC,
        )
        assert serialize_datetime(value) == value.isoformat(), value


def test_other_values_fall_back_to_isoformat() -> None:
    offset = dt.timezone(dt.timedelta(hours=5, minutes=30, seconds=15))
    values = [
        dt.datetime(2026, 12, 4, 16, 0, 0, 5, tzinfo=offset),
        dt.datetime(2026, 12, 4, 16, 0, 0),  # naive
        dt.date(2026, 12, 4),  # isoformat-capable, as Strawberry accepts
    ]
    for value in values:
        assert serialize_datetime(value) == value.isoformat()
