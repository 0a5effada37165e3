"""DataLoaders of the tenancy domain."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from app.graphql.context import Context
from tenancy.accounts import repository as accounts_repo
from tenancy.accounts.repository import UserCard


def users_by_id(
    ctx: Context,
) -> Callable[[Sequence[uuid.UUID]], Coroutine[Any, Any, list[UserCard | None]]]:
    """Batch user look-ups (invitation senders, audit actors) into one query."""

    async def load(ids: Sequence[uuid.UUID]) -> list[UserCard | None]:
        async with ctx.db() as session:
            found = {u.id: u for u in await accounts_repo.get_user_cards(session, list(ids))}
        return [found.get(i) for i in ids]

    return load
