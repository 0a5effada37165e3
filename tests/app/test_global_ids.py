"""Global ids: base64url of "<Type>:<uuid>" without padding, decoded back exactly."""

from __future__ import annotations

import base64
import uuid

import pytest

from app.errors import ValidationFailed
from app.graphql.node import from_global_id, to_global_id


@pytest.mark.parametrize("type_name", ["Document", "User", "Workspace", "Message", "X"])
def test_ids_are_unpadded_base64url_and_decode_back(type_name: str) -> None:
    for _ in range(200):
        value = uuid.uuid4()
        encoded = to_global_id(type_name, value)
        reference = base64.urlsafe_b64encode(f"{type_name}:{value}".encode()).decode()
        assert encoded == reference.rstrip("=")
        assert "=" not in encoded and "+" not in encoded and "/" not in encoded
        assert from_global_id(encoded) == (type_name, value)


def test_an_id_of_another_type_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="id"):
        from_global_id(to_global_id("User", uuid.uuid4()), expected="Document")
