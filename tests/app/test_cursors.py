"""Cursors (app/pagination.py): URL-safe base64 without padding, read back to the same
position; anything else is a VALIDATION error naming `after`."""

from __future__ import annotations

import base64
import random
import uuid

import pytest

from app.errors import ValidationFailed
from app.pagination import decode_cursor, encode_cursor


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
