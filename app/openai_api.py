"""The one module that talks to OpenAI-compatible endpoints, through the official SDK.

Embeddings (knowledge) and chat completions (assistant) both come through here, so the base URL,
credentials, timeouts and the translation of SDK errors into Parley's provider errors live in
one place. Any OpenAI-compatible server works (OpenAI, Azure OpenAI, vLLM, Ollama...); tests
point `OPENAI_BASE_URL` at a local server that speaks the same HTTP API.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from app.config import OpenAISettings

log = logging.getLogger(__name__)


class ProviderError(Exception):
    """A model provider call failed. `retryable` says whether trying again later may work."""

    retryable: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderRateLimited(ProviderError):
    """HTTP 429: the provider wants us to slow down (for `retry_after` seconds if it said)."""

    retryable = True


class ProviderUnavailable(ProviderError):
    """5xx, timeouts and connection failures: transient."""

    retryable = True


class ProviderRejected(ProviderError):
    """The provider refused the request itself (bad input, bad credentials): not retryable."""


def configured(settings: OpenAISettings) -> bool:
    """True when an OpenAI-compatible endpoint is configured (an API key is set)."""
    return settings.api_key is not None and bool(settings.api_key.get_secret_value())


_CLIENTS: dict[tuple[str | None, str, float, int], AsyncOpenAI] = {}


def client(settings: OpenAISettings) -> AsyncOpenAI:
    """The process's client for these settings (one connection pool per endpoint)."""
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    cache_key = (settings.base_url, key, settings.timeout_s, settings.max_retries)
    found = _CLIENTS.get(cache_key)
    if found is None:
        found = AsyncOpenAI(
            api_key=key or "unset",
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )
        _CLIENTS[cache_key] = found
    return found


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) / divisor)
            except ValueError:
                continue
    return None


def translate(exc: Exception) -> ProviderError:
    """Map an SDK exception onto Parley's provider errors."""
    if isinstance(exc, openai.RateLimitError):
        return ProviderRateLimited(
            f"The model provider is rate limiting requests: {exc.message}",
            retry_after=_retry_after(exc),
        )
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            return ProviderUnavailable(
                f"The model provider failed with HTTP {exc.status_code}: {exc.message}"
            )
        return ProviderRejected(
            f"The model provider refused the request (HTTP {exc.status_code}): {exc.message}"
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderUnavailable("The model provider did not answer in time.")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable(f"The model provider could not be reached: {exc}")
    return ProviderUnavailable(f"The model provider call failed: {exc}")


async def embed(
    settings: OpenAISettings, model: str, texts: Sequence[str], dimensions: int | None = None
) -> tuple[list[list[float]], int]:
    """Embed `texts` with `model`; returns the vectors in input order and the tokens billed."""
    kwargs: dict[str, Any] = {"model": model, "input": list(texts)}
    if dimensions is not None:
        kwargs["dimensions"] = dimensions
    try:
        response = await client(settings).embeddings.create(**kwargs)
    except openai.OpenAIError as exc:
        raise translate(exc) from exc
    ordered = sorted(response.data, key=lambda item: item.index)
    if len(ordered) != len(texts):
        raise ProviderUnavailable(
            f"The model provider returned {len(ordered)} embeddings for {len(texts)} inputs."
        )
    tokens = response.usage.total_tokens if response.usage else 0
    return [list(item.embedding) for item in ordered], tokens


@dataclass
class ChatUsage:
    """Tokens a chat completion consumed, as the provider reported them."""

    input_tokens: int = 0
    output_tokens: int = 0


async def stream_chat(
    settings: OpenAISettings,
    messages: list[dict[str, str]],
    *,
    max_tokens: int,
    temperature: float,
    usage: ChatUsage,
) -> AsyncIterator[str]:
    """Stream a chat completion's text deltas; `usage` is filled from the final usage chunk."""
    try:
        stream = await client(settings).chat.completions.create(
            model=settings.chat_model,
            messages=cast("list[ChatCompletionMessageParam]", messages),
            max_tokens=max_tokens,
            temperature=temperature,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.usage is not None:
                usage.input_tokens = chunk.usage.prompt_tokens
                usage.output_tokens = chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.delta.content:
                    yield choice.delta.content
    except openai.OpenAIError as exc:
        raise translate(exc) from exc
