"""Fixtures for the knowledge and assistant tests: the fake OpenAI server and app "stacks"
(settings, state, HTTP client) configured for each way Parley can answer, plus arq workers
run for real against the session's Redis.

Registered as a pytest plugin by tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.config import (
    AssistantSettings,
    EmbeddingSettings,
    KnowledgeSettings,
    OpenAISettings,
    Settings,
    WorkerSettings,
)
from app.server import create_app
from app.state import AppState
from app.worker import build_workers
from tests.support.factories import Factory
from tests.support.graphql import GraphQL
from tests.support.openai_server import FakeOpenAI
from tests.support.services import TestServices

# The fake server's bag-of-words vectors give related texts similarities around 0.1-0.6 and
# unrelated ones 0; real models need the catalogue's higher defaults.
FAKE_MIN_SIMILARITY = 0.08


@dataclass
class Stack:
    """One configuration of the app, served in-process, with workers on demand."""

    settings: Settings
    state: AppState
    http: httpx.AsyncClient
    gql: GraphQL
    factory: Factory

    async def drain(self, limit_s: float = 60.0) -> None:
        """Run real arq workers (both queues) until every queued job is done."""
        workers = build_workers(self.settings, self.state, burst=True)
        try:
            async with asyncio.timeout(limit_s):
                await asyncio.gather(*(w.async_run() for w in workers))
        finally:
            for worker in workers:
                await worker.close()

    @contextlib.asynccontextmanager
    async def running_workers(self) -> AsyncIterator[None]:
        """Workers polling in the background for the duration of the block (the block must
        let the jobs it started finish: stopping cancels whatever is still running)."""
        workers = build_workers(self.settings, self.state)
        tasks = [asyncio.create_task(w.async_run()) for w in workers]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for worker in workers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await worker.close()


def ai_settings(
    base: Settings, openai_url: str | None, *, provider: str, generation: str
) -> Settings:
    """Test settings for one way of answering."""
    openai = (
        OpenAISettings(
            api_key=SecretStr("test-key"),
            base_url=openai_url,
            chat_model="gpt-test",
            max_retries=0,
            timeout_s=10.0,
        )
        if openai_url
        else OpenAISettings(api_key=None)
    )
    return base.model_copy(
        update={
            "openai": openai,
            "embedding": EmbeddingSettings(provider=provider, batch_size=16),  # type: ignore[arg-type]
            "assistant": AssistantSettings(
                min_similarity=FAKE_MIN_SIMILARITY if provider == "openai" else None,
                generation=generation,  # type: ignore[arg-type]
                # Tests script failures on purpose; the session-wide stacks must not trip the
                # shared breaker for each other (tests/assistant/test_breaker.py tests it).
                breaker_failures=1_000,
            ),
            "knowledge": KnowledgeSettings(embed_rate_limit_wait_s=20.0, retry_base_s=0.05),
            "worker": WorkerSettings(interactive_poll_delay_s=0.01, bulk_poll_delay_s=0.05),
        }
    )


@contextlib.asynccontextmanager
async def make_stack(settings: Settings) -> AsyncIterator[Stack]:
    """Start a stack for `settings`."""
    state = await AppState.create(settings)
    app = create_app(settings, state)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        gql = GraphQL(client)
        yield Stack(settings, state, client, gql, Factory(gql))
    await state.close()


@pytest.fixture(scope="session")
def openai_server() -> Iterator[FakeOpenAI]:
    """The fake OpenAI-compatible server for the session."""
    server = FakeOpenAI()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(openai_server: FakeOpenAI) -> FakeOpenAI:
    """The fake server with no scripts left over from other tests."""
    openai_server.reset()
    return openai_server


@pytest.fixture(scope="session")
async def extractive(settings: Settings, openai_server: FakeOpenAI) -> AsyncIterator[Stack]:
    """Embeddings from the OpenAI-compatible server, answers composed extractively."""
    async with make_stack(
        ai_settings(settings, openai_server.url, provider="openai", generation="extractive")
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
async def generative(settings: Settings, openai_server: FakeOpenAI) -> AsyncIterator[Stack]:
    """Embeddings and generated answers from the OpenAI-compatible server."""
    async with make_stack(
        ai_settings(settings, openai_server.url, provider="openai", generation="auto")
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
async def local(settings: Settings) -> AsyncIterator[Stack]:
    """No OpenAI endpoint at all: the local MiniLM model embeds, answers are extractive."""
    async with make_stack(ai_settings(settings, None, provider="auto", generation="auto")) as stack:
        yield stack


def services_env(services: TestServices, settings: Settings, openai_url: str) -> dict[str, Any]:
    """Environment variables that point a `parley` subprocess at the test services."""
    return {
        "PARLEY_ENV": "test",
        "PARLEY_DATA_DIR": settings.data_dir,
        "DATABASE_URL": services.app_url,
        "DATABASE_ADMIN_URL": services.admin_url,
        "REDIS_URL": settings.redis.url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": openai_url,
        "OPENAI_MAX_RETRIES": "0",
        "EMBEDDING_PROVIDER": "openai",
        "EMBEDDING_BATCH_SIZE": "16",
        "AUTH_JWT_SECRET": settings.auth.jwt_secret.get_secret_value(),
    }


@contextlib.asynccontextmanager
async def serve(stack: Stack) -> AsyncIterator[str]:
    """Serve the stack's app over real HTTP/WebSocket on a free port; yields its base URL
    (ws://...). Runs in the test's event loop, sharing the stack's pools."""
    import uvicorn

    from app.devstack.redis import free_port

    port = free_port()
    app = create_app(stack.settings, stack.state)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    else:
        raise TimeoutError("the test server did not start")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
