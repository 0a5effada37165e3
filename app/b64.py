"""Unpadded URL-safe base64, the text of opaque ids and cursors, both ways."""

from __future__ import annotations

import base64
import binascii

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def urlsafe_text(data: bytes) -> str:
    """`base64.urlsafe_b64encode(data)` without its padding, as text."""
    # Without base64's two Python-level calls: a page writes dozens of ids and cursors.
    encoded = binascii.b2a_base64(data, newline=False)
    return encoded.translate(_URLSAFE).decode().rstrip("=")


def urlsafe_bytes(text: str) -> bytes:
    """The bytes of `urlsafe_text`'s output (padding restored); binascii.Error or
    ValueError when `text` is not such output."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
