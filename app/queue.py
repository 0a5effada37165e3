"""arq connection settings derived from our Redis URL."""

from __future__ import annotations

from typing import Any

from app.config import Settings


def redis_settings(settings: Settings) -> Any:
    """arq's RedisSettings for the configured Redis."""
    from arq.connections import RedisSettings

    return RedisSettings.from_dsn(settings.redis.url)
