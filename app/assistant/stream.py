"""Answer tokens from the worker to subscribers: Redis pub/sub plus a text snapshot.

The worker appends each delta to a per-answer string key and publishes it with its offset;
both happen in one MULTI, so the snapshot and the channel never disagree. A subscriber
subscribes first, then reads the snapshot, and from then on skips any published delta that
the snapshot already covered: it neither misses the tokens produced before it arrived nor
shows one twice. A `reset` event (a retried job starts over) clears what was shown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from redis.asyncio import Redis

from app.config import Settings

log = logging.getLogger(__name__)


def channel(prefix: str, message_id: uuid.UUID) -> str:
    """The pub/sub channel of an answer."""
    return f"{prefix}answer:{message_id}:events"


def text_key(prefix: str, message_id: uuid.UUID) -> str:
    """The key holding the text streamed so far."""
    return f"{prefix}answer:{message_id}:text"


def done_key(prefix: str, message_id: uuid.UUID) -> str:
    """The key set once the answer is stored (checked before waiting on the channel)."""
    return f"{prefix}answer:{message_id}:done"


class Publisher:
    """Publishes one answer's deltas in order."""

    @classmethod
    def for_answer(cls, redis: Redis, settings: Settings, message_id: uuid.UUID) -> Publisher:
        """The publisher of an answer, with the deployment's key prefix and stream lifetime."""
        return cls(redis, settings.redis.key_prefix, message_id, settings.assistant.stream_ttl_s)

    def __init__(self, redis: Redis, prefix: str, message_id: uuid.UUID, ttl_s: int) -> None:
        self.redis = redis
        self.channel = channel(prefix, message_id)
        self.key = text_key(prefix, message_id)
        self.done_key = done_key(prefix, message_id)
        self.ttl_s = ttl_s
        self.offset = 0

    async def reset(self) -> None:
        """Start over (a retried job): subscribers drop what they showed."""
        self.offset = 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            pipe.publish(self.channel, orjson.dumps({"type": "reset"}))
            await pipe.execute()

    async def delta(self, text: str) -> None:
        """Append `text` to the answer."""
        if not text:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            self._queue_delta(pipe, text)
            await pipe.execute()
        self.offset += len(text)

    async def done(self, text: str = "", final: Mapping[str, Any] | None = None) -> None:
        """The answer is stored. `text`, when given, is appended first in the same MULTI: an
        answer that exists whole at once (extractive, FAQ, "don't know") reaches subscribers
        as one delta and the end in one round trip. `final`, the stored message's changed
        fields (content, status, mode, citations, completedAt), travels with the end, so a
        subscriber need not read the message back; without it subscribers read the database."""
        marker = orjson.dumps(final) if final else b"1"
        async with self.redis.pipeline(transaction=True) as pipe:
            if text:
                self._queue_delta(pipe, text)
            pipe.set(self.done_key, marker, ex=self.ttl_s)
            pipe.publish(self.channel, b'{"type":"done","final":' + marker + b"}")
            await pipe.execute()
        self.offset += len(text)

    def _queue_delta(self, pipe: Any, text: str) -> None:
        """Queue appending `text` at the current offset and announcing it."""
        pipe.append(self.key, text.encode())
        pipe.expire(self.key, self.ttl_s)
        pipe.publish(
            self.channel, orjson.dumps({"type": "delta", "offset": self.offset, "text": text})
        )


def final_fields(
    content: str, status: str, completed_at: dt.datetime, **answer: Any
) -> dict[str, Any]:
    """The stored message's changed fields as `done` sends them: content, status and
    completedAt, plus `mode` and `citations` when the answer set them (a failure does not)."""
    return {"content": content, "status": status, "completedAt": completed_at.isoformat(), **answer}


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """What a subscriber receives: new text, a restart, or the end."""

    kind: Literal["delta", "reset", "done"]
    text: str = ""
    offset: int = 0
    final: dict[str, Any] | None = None  # with "done": the stored message's final fields


def _final(marker: Any) -> dict[str, Any] | None:
    """The final fields a done marker or event carries (None for a bare marker: read them
    from the database)."""
    if isinstance(marker, bytes):
        marker = orjson.loads(marker) if marker.startswith(b"{") else None
    return marker if isinstance(marker, dict) else None


async def follow(
    redis: Redis,
    prefix: str,
    message_id: uuid.UUID,
    *,
    is_finished: Callable[[], Awaitable[bool]],
    recheck_s: float = 2.0,
    max_wait_s: float = 600.0,
) -> AsyncIterator[StreamEvent]:
    """Events of one answer until it is finished. Right after subscribing, the snapshot and
    the done marker (one round trip) say what happened before; `is_finished` (the database)
    is consulted whenever the channel has been quiet for `recheck_s`, so a lost event or a
    worker that died cannot hang a subscriber."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel(prefix, message_id))
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.get(text_key(prefix, message_id))
            pipe.get(done_key(prefix, message_id))
            snapshot, finished = await pipe.execute()
        shown = (snapshot or b"").decode(errors="replace")
        if shown:
            yield StreamEvent("delta", shown, 0)
        if finished is not None:
            yield StreamEvent("done", final=_final(finished))
            return
        deadline = time.monotonic() + max_wait_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is None:
                if time.monotonic() - quiet_since >= recheck_s:
                    quiet_since = time.monotonic()
                    if await is_finished():
                        yield StreamEvent("done")
                        return
                continue
            quiet_since = time.monotonic()
            event = orjson.loads(message["data"])
            if event["type"] == "done":
                yield StreamEvent("done", final=_final(event.get("final")))
                return
            if event["type"] == "reset":
                shown = ""
                yield StreamEvent("reset")
                continue
            offset, text = int(event["offset"]), str(event["text"])
            end = offset + len(text)
            if end <= len(shown):
                continue  # already in the snapshot
            new = text[len(shown) - offset :] if offset <= len(shown) else text
            shown += new
            yield StreamEvent("delta", new, end - len(new))
        yield StreamEvent("done")
    finally:
        try:
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
        except (ConnectionError, OSError, asyncio.CancelledError):  # pragma: no cover
            log.debug("pubsub close failed", exc_info=True)
