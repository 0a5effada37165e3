"""DataLoaders of the tenancy domain."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from app.graphql.context import Context
from tenancy.accounts import repository as accounts_repo
from tenancy.accounts.models import User


def users_by_id(
    ctx: Context,
) -> Callable[[Sequence[uuid.UUID]], Coroutine[Any, Any, list[User | None]]]:
    """Batch user look-ups (invitation senders, audit actors) into one query."""

    async def load(ids: Sequence[uuid.UUID]) -> list[User | None]:
        async with ctx.db() as session:
            found = {u.id: u for u in await accounts_repo.get_users(session, list(ids))}
        return [found.get(i) for i in ids]

    return load
