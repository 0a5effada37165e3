"""Splitting extracted text into overlapping, token-bounded chunks that keep their headings.

Tokens are estimated from words and punctuation marks (`\\w+|[^\\w\\s]`, long words
counting for several), which tracks both OpenAI's BPE counts and MiniLM's word pieces closely
for prose without needing either tokenizer's vocabulary. A chunk never crosses a heading:
every chunk belongs to one section and carries that section's heading path. Within a
section, paragraphs are packed up to the bound; an oversized paragraph is split at sentences
and, failing that, at words. Each chunk after the first of a section starts with the tail of
the previous one (the overlap), so a fact that straddles a boundary is whole in at least one
chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

from app.knowledge.extract import Block

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'(\[]?[A-Z0-9À-Ý])")
_WORD = re.compile(r"\S+")


def count_tokens(text: str) -> int:
    """Estimated tokens of `text`: one per punctuation mark, one per word of up to eight
    characters and one more per further eight (tokenizers split long words)."""
    return sum((len(t) + 7) // 8 for t in _TOKEN.findall(text))


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A chunk before it is embedded and stored."""

    position: int
    heading_path: tuple[str, ...]
    text: str
    token_count: int


def embedding_text(heading_path: Sequence[str], content: str, *, is_faq: bool = False) -> str:
    """What is embedded for a chunk. The heading path gives a passage its context; an FAQ
    entry is embedded by its question alone, since visitors' questions are compared with it."""
    if is_faq and heading_path:
        return heading_path[0]
    if not heading_path:
        return content
    return " > ".join(heading_path) + "\n\n" + content


def _split_words(text: str, max_tokens: int) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for word in _WORD.findall(text):
        cost = count_tokens(word)
        if current and used + cost > max_tokens:
            pieces.append(" ".join(current))
            current, used = [], 0
        if cost > max_tokens:
            # A single "word" longer than the bound (a URL, a hash): cut by characters.
            step = max(1, len(word) * max_tokens // cost)
            pieces.extend(word[i : i + step] for i in range(0, len(word), step))
            continue
        current.append(word)
        used += cost
    if current:
        pieces.append(" ".join(current))
    return pieces


def _units(text: str, max_tokens: int) -> list[str]:
    """A paragraph as pieces that each fit the bound: itself, its sentences, or word runs."""
    if count_tokens(text) <= max_tokens:
        return [text]
    units: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if count_tokens(sentence) <= max_tokens:
            units.append(sentence)
        else:
            units.extend(_split_words(sentence, max_tokens))
    return units


def _tail(units: Sequence[tuple[str, int]], budget: int) -> list[tuple[str, int]]:
    """The last units of a chunk that fit in `budget` tokens; trailing words when even the
    last unit is larger than the budget."""
    kept: list[tuple[str, int]] = []
    used = 0
    for text, tokens in reversed(units):
        if used + tokens > budget:
            break
        kept.insert(0, (text, tokens))
        used += tokens
    if kept or budget <= 0 or not units:
        return kept
    words = _WORD.findall(units[-1][0])
    tail: list[str] = []
    for word in reversed(words):
        cost = count_tokens(word)
        if used + cost > budget:
            break
        tail.insert(0, word)
        used += cost
    return [(" ".join(tail), used)] if tail else []


def chunk_blocks(blocks: Iterable[Block], max_tokens: int, overlap_tokens: int) -> list[ChunkDraft]:
    """Chunks of at most `max_tokens` estimated tokens with `overlap_tokens` of overlap."""
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
    drafts: list[ChunkDraft] = []
    for heading, section in groupby(blocks, key=lambda b: b.heading_path):
        units = [
            (unit, count_tokens(unit))
            for block in section
            for unit in _units(block.text, max_tokens)
            if unit.strip()
        ]
        current: list[tuple[str, int]] = []
        fresh = 0  # tokens in `current` that are not overlap from the previous chunk

        def emit(parts: list[tuple[str, int]], heading: tuple[str, ...] = heading) -> None:
            text = "\n\n".join(p for p, _ in parts)
            drafts.append(ChunkDraft(len(drafts), heading, text, count_tokens(text)))

        for unit, tokens in units:
            used = sum(t for _, t in current)
            if current and used + tokens > max_tokens:
                if fresh:
                    emit(current)
                current = _tail(current, min(overlap_tokens, max_tokens - tokens))
                fresh = 0
            current.append((unit, tokens))
            fresh += tokens
        if current and fresh:
            emit(current)
    return drafts
