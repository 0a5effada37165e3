"""A local server that speaks the OpenAI HTTP API, for the official SDK to talk to in tests.

Endpoints: `POST /v1/embeddings` (float or base64 encoding, optional `dimensions`) and
`POST /v1/chat/completions`, with and without `stream: true` (server-sent events, `data:
[DONE]`, and a final usage chunk when `stream_options.include_usage` is set).

Embeddings are deterministic hashed bags of words (stop words left out, unit length), so
texts that share words are similar and texts that share none are orthogonal: retrieval in
tests behaves like retrieval, and results can be predicted. Chat replies, by default, quote
the first sentence of the first excerpt of Parley's prompt with its [1] marker.

Scriptable per test: queue `Reply` objects to answer the next requests of an endpoint with
an HTTP error (429 with Retry-After, 500...), a delay, or canned text. Every request body is
recorded. The server runs uvicorn in its own thread and event loop, so it keeps answering
while a test's loop is blocked and is reachable from worker subprocesses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import re
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn

from app.devstack.redis import free_port

_STOP_WORDS = (
    "a an and are as at be but by can do does for from how i if in is it its me my of on or "
    "our so that the their there this to was we what when where which who why will with you "
    "your about have has had not no yes please tell"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())
DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_WORD = re.compile(r"[a-z0-9]+")
_EXCERPT = re.compile(r"excerpt \[(\d+)\][^\n]*>>\n(.*?)\n<<", re.DOTALL)


def words(text: str) -> list[str]:
    """Lower-cased content words, with a plural 's' dropped (refunds ~ refund)."""
    out = []
    for word in _WORD.findall(text.lower()):
        if word in STOP_WORDS:
            continue
        plural = len(word) > 3 and word.endswith("s") and not word.endswith("ss")
        out.append(word[:-1] if plural else word)
    return out


def embed_text(text: str, dims: int) -> list[float]:
    """The hashed bag-of-words vector of `text` (unit length)."""
    vector = [0.0] * dims
    for word in words(text):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dims
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]


@dataclass
class Reply:
    """A scripted answer to the next request of an endpoint."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None  # an error body; OpenAI's shape when omitted
    delay_s: float = 0.0  # before answering (or, when streaming, before each chunk)
    text: str | None = None  # chat: the reply text
    usage: tuple[int, int] | None = None  # chat: (prompt, completion) tokens to report


@dataclass
class Recorded:
    """A request the server received."""

    path: str
    body: dict[str, Any]
    at: float


def default_chat_reply(messages: list[dict[str, Any]]) -> str:
    """Quote the first sentence of the first excerpt with its marker, or say I don't know."""
    last = str(messages[-1].get("content", "")) if messages else ""
    found = _EXCERPT.search(last)
    if not found:
        return "I don't know."
    number, excerpt = found.group(1), " ".join(found.group(2).split())
    sentence = re.split(r"(?<=[.!?])\s", excerpt, maxsplit=1)[0]
    return f"According to the knowledge base, {sentence} [{number}]"


class FakeOpenAI:
    """The server. Use `url` as the SDK's base URL (it ends in /v1)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Recorded] = []
        self._scripts: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self.stream_chunk_delay_s = 0.0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL for the SDK."""
        return f"http://127.0.0.1:{self.port}/v1"

    # --- scripting ------------------------------------------------------------------------

    def script(self, endpoint: str, *replies: Reply) -> None:
        """Answer the next requests to `endpoint` ('embeddings' or 'chat') with `replies`."""
        with self._lock:
            self._scripts.setdefault(endpoint, deque()).extend(replies)

    def reset(self) -> None:
        """Forget scripts and recorded requests."""
        with self._lock:
            self._scripts.clear()
            self.requests.clear()
            self.stream_chunk_delay_s = 0.0

    def calls(self, endpoint: str) -> list[dict[str, Any]]:
        """Bodies of the requests received by an endpoint."""
        path = "/v1/embeddings" if endpoint == "embeddings" else "/v1/chat/completions"
        with self._lock:
            return [r.body for r in self.requests if r.path == path]

    def _next(self, endpoint: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(endpoint)
            return queue.popleft() if queue else Reply()

    # --- HTTP -----------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        try:
            payload = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            await self._json(send, 400, _error("invalid JSON body", "invalid_request_error"))
            return
        with self._lock:
            self.requests.append(Recorded(path, payload, time.monotonic()))
        if scope["method"] != "POST":
            await self._json(send, 405, _error("method not allowed", "invalid_request_error"))
        elif path == "/v1/embeddings":
            await self._embeddings(send, payload)
        elif path == "/v1/chat/completions":
            await self._chat(send, payload)
        else:
            await self._json(send, 404, _error(f"unknown path {path}", "invalid_request_error"))

    async def _json(
        self, send: Any, status: int, data: Any, headers: dict[str, str] | None = None
    ) -> None:
        raw = orjson.dumps(data)
        head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        head += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": raw})

    async def _scripted_error(self, send: Any, reply: Reply) -> bool:
        if reply.delay_s and (reply.status != 200 or reply.text is None):
            await asyncio.sleep(reply.delay_s)
        if reply.status == 200:
            return False
        kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
        body = reply.body or _error(f"scripted {reply.status}", kind)
        await self._json(send, reply.status, body, reply.headers)
        return True

    async def _embeddings(self, send: Any, payload: dict[str, Any]) -> None:
        reply = self._next("embeddings")
        if await self._scripted_error(send, reply):
            return
        model = str(payload.get("model", ""))
        inputs = payload.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        if not texts or any(not isinstance(t, str) or not t for t in texts):
            problem = _error("input must be non-empty strings", "invalid_request_error")
            await self._json(send, 400, problem)
            return
        dims = int(payload.get("dimensions") or DIMENSIONS.get(model, 1536))
        encoding = payload.get("encoding_format", "float")
        data = []
        tokens = 0
        for index, text in enumerate(texts):
            vector = embed_text(text, dims)
            tokens += max(1, len(text.split()))
            value: Any = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                if encoding == "base64"
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": value})
        await self._json(
            send,
            200,
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    async def _chat(self, send: Any, payload: dict[str, Any]) -> None:
        reply = self._next("chat")
        if await self._scripted_error(send, reply):
            return
        messages = payload.get("messages") or []
        text = reply.text if reply.text is not None else default_chat_reply(messages)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_tokens = max(1, len(text.split()))
        if reply.usage:
            prompt_tokens, completion_tokens = reply.usage
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        model = str(payload.get("model", "gpt-test"))
        created = int(time.time())
        if not payload.get("stream"):
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            await self._json(
                send,
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        delay = reply.delay_s or self.stream_chunk_delay_s

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        async def event(data: Any) -> None:
            raw = data if isinstance(data, bytes) else orjson.dumps(data)
            await send(
                {"type": "http.response.body", "body": b"data: " + raw + b"\n\n", "more_body": True}
            )

        await event(chunk({"role": "assistant", "content": ""}))
        pieces = re.findall(r"\S+\s*", text) or [text]
        for piece in pieces:
            if delay:
                await asyncio.sleep(delay)
            await event(chunk({"content": piece}))
        await event(chunk({}, "stop"))
        if (payload.get("stream_options") or {}).get("include_usage"):
            await event(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        await event(b"[DONE]")
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Serve in a background thread; returns once the port accepts connections."""
        config = uvicorn.Config(
            self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-openai", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the fake OpenAI server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}
