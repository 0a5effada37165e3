"""Cursors and pages (app/pagination.py). Cursors are URL-safe base64 without padding, read
back to the same position; anything else is a VALIDATION error naming `after`. A page query
reads one row more than the page, which `make_page` trims."""

from __future__ import annotations

import base64
import random
import uuid

import pytest

from app.errors import ValidationFailed
from app.pagination import decode_cursor, encode_cursor, make_page, page_request


def test_cursors_are_the_urlsafe_base64_text_and_read_back() -> None:
    rng = random.Random(5)
    positions = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(20_000)]
    positions += [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]  # all-zero and all-one bytes
    for position in positions:
        cursor = encode_cursor(position)
        assert cursor == base64.urlsafe_b64encode(b"c:" + position.bytes).decode().rstrip("=")
        assert "=" not in cursor and "+" not in cursor and "/" not in cursor
        assert decode_cursor(cursor) == position


@pytest.mark.parametrize("cursor", ["", "x", "Yzo", encode_cursor(uuid.uuid4())[:-2], "%%%"])
def test_a_malformed_cursor_is_a_validation_error(cursor: str) -> None:
    with pytest.raises(ValidationFailed, match="after is not a valid cursor"):
        decode_cursor(cursor)


@pytest.mark.parametrize("size", [0, 1, 20, 100])
def test_a_page_reads_one_row_more_and_make_page_trims_it(size: int) -> None:
    request = page_request(size, None)
    assert request.fetch == size + 1
    full = make_page(list(range(request.fetch)), request)  # the extra row came: more follow
    assert list(full.items) == list(range(size)) and full.has_next
    short = make_page(list(range(size)), request)  # it did not: this is the last page
    assert list(short.items) == list(range(size)) and not short.has_next
    assert (
        not full.has_previous
        and make_page([], page_request(size, encode_cursor(uuid.uuid4()))).has_previous
    )
