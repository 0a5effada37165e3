"""How the shared local model is queued: interactive questions go first and are coalesced.

The encoder here is a stand-in with sentence-transformers' `encode` signature that records
its calls; the real model runs in test_local_model.py."""

import asyncio
import threading
import time

import numpy as np

from app.knowledge.embedding.providers import _PriorityLock, _QueryBatcher


class RecordingEncoder:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        with self.lock:
            self.calls.append(list(texts))
        time.sleep(self.seconds)
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


async def test_interactive_waiters_go_before_bulk_ones() -> None:
    lock = _PriorityLock()
    order: list[str] = []
    await lock.acquire(interactive=False)

    async def take(name: str, interactive: bool) -> None:
        await lock.acquire(interactive)
        order.append(name)
        await asyncio.sleep(0.01)
        lock.release()

    bulk = [asyncio.create_task(take(f"bulk{i}", False)) for i in range(2)]
    await asyncio.sleep(0.01)
    question = asyncio.create_task(take("question", True))
    await asyncio.sleep(0.01)
    lock.release()
    await asyncio.gather(*bulk, question)
    assert order == ["question", "bulk0", "bulk1"]


async def test_concurrent_questions_are_encoded_together() -> None:
    encoder = RecordingEncoder(seconds=0.05)
    batcher = _QueryBatcher(encoder, _PriorityLock(), max_batch=32)
    questions = [f"question {'x' * i}" for i in range(20)]
    vectors = await asyncio.gather(*(batcher.submit(q) for q in questions))
    assert [v[0] for v in vectors] == [float(len(q)) for q in questions]  # each gets its own
    assert len(encoder.calls) <= 2  # the first alone, the other 19 together
    assert sorted(q for call in encoder.calls for q in call) == sorted(questions)
