"""The answer cache: Redis, keyed by workspace, knowledge version and normalised question.

Every change of knowledge bumps the workspace's version (app/knowledge/repository.py), so
keys of the old version are simply never asked for again and expire on their own: there is
nothing to delete and no window in which a stale answer can be served after the change
commits. Only first questions of a conversation are cached; follow-ups depend on what was
said before them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_SPACE = re.compile(r"\s+")
# Quotes, including typographic ones (\u2018 \u2019 \u201c \u201d), and ¿ ¡ at the edges.
_QUOTES = "\"'\u2018\u2019\u201c\u201d"
_EDGE_PUNCTUATION = re.compile(f"^[\\s\u00bf\u00a1{_QUOTES}]+|[\\s?!.,;:{_QUOTES}]+$")


def normalise(question: str) -> str:
    """Case, width, spacing and surrounding punctuation do not make a different question."""
    text = unicodedata.normalize("NFKC", question).casefold()
    text = _SPACE.sub(" ", text)
    return _EDGE_PUNCTUATION.sub("", text)


def cache_key(
    prefix: str, workspace_id: uuid.UUID, version: int, flavour: str, question: str
) -> str:
    """The key of an answer. `flavour` names how answers are made (the chat model, or
    extractive), so a configuration change never serves answers of the other kind."""
    digest = hashlib.sha256(f"{flavour}\x00{normalise(question)}".encode()).hexdigest()
    return f"{prefix}answer-cache:{workspace_id}:{version}:{digest}"


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """What is stored for an answer."""

    content: str
    mode: str
    citations: list[dict[str, Any]]


async def get(redis: Redis, key: str) -> CachedAnswer | None:
    """The cached answer, if any (a Redis failure is a miss, never an error)."""
    try:
        raw = await redis.get(key)
    except RedisError as exc:
        log.warning("answer cache unavailable: %s", exc)
        return None
    if raw is None:
        return None
    data = orjson.loads(raw)
    return CachedAnswer(data["content"], data["mode"], data["citations"])


async def put(redis: Redis, key: str, answer: CachedAnswer, ttl_s: int) -> None:
    """Store an answer for `ttl_s` seconds."""
    payload = orjson.dumps(
        {"content": answer.content, "mode": answer.mode, "citations": answer.citations}
    )
    try:
        await redis.set(key, payload, ex=ttl_s)
    except RedisError as exc:
        log.warning("answer cache unavailable: %s", exc)
