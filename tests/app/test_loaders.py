"""`now_or_later`: a primed key answers at once, converted once per request when given the
request's memo; an unprimed key answers through the next batch."""

from __future__ import annotations

import inspect

from strawberry.dataloader import DataLoader

from app.graphql.loaders import now_or_later


async def _load(keys: list[int]) -> list[str]:
    return [f"value {key}" for key in keys]


async def test_a_primed_key_is_converted_once_and_shared() -> None:
    loader: DataLoader[int, str] = DataLoader(_load)
    await loader.load_many([1, 2])
    conversions: list[str] = []

    def convert(value: str) -> dict[str, str]:
        conversions.append(value)
        return {"name": value}

    memo: dict[tuple[object, object, object], object] = {}
    first = now_or_later(loader, 1, convert, memo)
    again = now_or_later(loader, 1, convert, memo)
    other = now_or_later(loader, 2, convert, memo)
    assert first == {"name": "value 1"} and again is first
    assert other == {"name": "value 2"}
    assert conversions == ["value 1", "value 2"]
    # Without the memo each call converts.
    assert now_or_later(loader, 1, convert) == first
    assert conversions == ["value 1", "value 2", "value 1"]


async def test_an_unprimed_key_is_loaded_in_the_next_batch() -> None:
    loader: DataLoader[int, str] = DataLoader(_load)
    memo: dict[tuple[object, object, object], object] = {}
    pending = now_or_later(loader, 3, str.upper, memo)
    assert inspect.isawaitable(pending)
    assert await pending == "VALUE 3"
