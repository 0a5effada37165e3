"""Generating an answer with the chat model: prompt in, streamed plain text and citations out.

The call goes through `app.openai_api` (the official SDK against any OpenAI-compatible
endpoint). Text is published to subscribers as it arrives; the stored answer is the same text
reduced to plain text, with the excerpt numbers it cites.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.assistant.prompt import ContextPassage, build_messages, cited_numbers, plain_text
from app.assistant.stream import Publisher
from app.config import Settings
from app.knowledge.search import Passage
from app.openai_api import ChatUsage, stream_chat


@dataclass(frozen=True, slots=True)
class Generated:
    """A finished generation."""

    content: str
    cited: list[int]
    input_tokens: int
    output_tokens: int


async def generate(
    settings: Settings,
    question: str,
    history: Sequence[tuple[str, str]],
    passages: Sequence[Passage],
    publisher: Publisher,
) -> Generated:
    """Stream the model's answer to `question` from `passages`."""
    context = [
        ContextPassage(n, p.chunk.document_title, p.chunk.heading_path, p.chunk.content)
        for n, p in enumerate(passages, start=1)
    ]
    messages = build_messages(context, question, history)
    usage = ChatUsage()
    parts: list[str] = []
    async for delta in stream_chat(
        settings.openai,
        messages,
        max_tokens=settings.assistant.max_output_tokens,
        temperature=settings.assistant.temperature,
        usage=usage,
    ):
        parts.append(delta)
        await publisher.delta(delta)
    content = plain_text("".join(parts))
    return Generated(
        content=content,
        cited=cited_numbers(content, len(passages)),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
    )
