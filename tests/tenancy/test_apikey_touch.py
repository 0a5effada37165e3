"""Recording a key's use never makes one request wait for another."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text

from tenancy.apikeys import service as keys
from tests.support.factories import Factory

if TYPE_CHECKING:
    from app.state import AppState


async def test_concurrent_requests_with_one_key_do_not_queue_on_its_row(
    factory: Factory, state: AppState
) -> None:
    tenant = await factory.tenant()
    plaintext = (await tenant.gql.op("CreateSecretKey", {"input": {"name": "busy"}})).data[
        "createSecretKey"
    ]["key"]
    async with state.sessions() as first, state.sessions() as second:
        await first.begin()
        assert await keys.authenticate(first, plaintext, "secret") is not None
        # The first request now holds the key's row (its use is being recorded) and has not
        # committed. Waiting for it would hit this lock timeout and raise.
        await second.begin()
        await second.execute(text("SET LOCAL lock_timeout = '500ms'"))
        assert await keys.authenticate(second, plaintext, "secret") is not None
        await second.commit()
        await first.commit()
