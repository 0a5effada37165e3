"""Fixtures for the operations tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.db.engine import asyncpg_dsn
from app.graphql.node import from_global_id
from tests.support.services import TestServices


@pytest.fixture
async def admin_db(services: TestServices, settings: object) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the test database, for checking what the app wrote where
    the application role cannot look."""
    conn = await asyncpg.connect(asyncpg_dsn(services.admin_url))
    try:
        yield conn
    finally:
        await conn.close()


def raw_id(global_id: str, kind: str = "Workspace") -> uuid.UUID:
    """The UUID inside a GraphQL global id."""
    return from_global_id(global_id, expected=kind, field="id")[1]
