"""Answers composed from the best passages themselves, for deployments without a chat model.

Sentences are chosen by how many of the question's content words they contain; a passage
that matched by meaning rather than words contributes its opening sentences. Every excerpt
keeps its [n] marker, so the answer's citations are the passages it quotes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.assistant.prompt import plain_text

MAX_PASSAGES = 3
MAX_SENTENCES = 2
MAX_CHARS = 900

LEAD = "Here is what the knowledge base says:"

_WORD = re.compile(r"[\w'-]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_STOPWORDS = (
    "a an and are as at be but by can do does for from how i if in is it me my of on or our so "
    "that the their there this to was we what when where which who why will with you your "
    "about have has had not no yes please tell"
)
_STOP = frozenset(_STOPWORDS.split())


def _terms(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP and len(w) > 1}


def _excerpt(question_terms: set[str], text: str) -> str:
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]
    if not sentences:
        return ""
    scored = [(len(question_terms & _terms(s)), i) for i, s in enumerate(sentences)]
    best = sorted((x for x in scored if x[0] > 0), key=lambda x: (-x[0], x[1]))[:MAX_SENTENCES]
    chosen = sorted(i for _, i in best) if best else list(range(min(MAX_SENTENCES, len(sentences))))
    excerpt = " ".join(sentences[i] for i in chosen)
    if len(excerpt) > MAX_CHARS // MAX_PASSAGES * 2:
        excerpt = excerpt[: MAX_CHARS // MAX_PASSAGES * 2].rsplit(" ", 1)[0] + " …"
    return excerpt


def compose(question: str, passages: Sequence[str]) -> tuple[str, list[int]]:
    """The answer text and the (1-based) passages it quotes."""
    terms = _terms(question)
    lines: list[str] = []
    used: list[int] = []
    for number, text in enumerate(passages[:MAX_PASSAGES], start=1):
        excerpt = plain_text(_excerpt(terms, text))
        if excerpt:
            lines.append(f"{excerpt} [{number}]")
            used.append(number)
    if not lines:
        return "", []
    return LEAD + "\n\n" + "\n\n".join(lines), used
