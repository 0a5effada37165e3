"""Chunking and text extraction, without a database."""

import itertools

import pytest

from app.knowledge.chunking import chunk_blocks, count_tokens, embedding_text
from app.knowledge.extract import ExtractionFailed, extract
from tests.support.knowledge import make_pdf


def sentence(i: int) -> str:
    return f"Sentence number {i} talks about topic {i} in some detail."


def test_markdown_sections_keep_their_heading_path() -> None:
    text = (
        "# Guide\n\nIntro text.\n\n## Setup\n\nInstall it.\n\n### Linux\n\nUse apt.\n\n"
        "## Use\n\nRun it."
    )
    blocks = extract("markdown", text.encode())
    chunks = chunk_blocks(blocks, max_tokens=50, overlap_tokens=10)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (("Guide",), "Intro text."),
        (("Guide", "Setup"), "Install it."),
        (("Guide", "Setup", "Linux"), "Use apt."),
        (("Guide", "Use"), "Run it."),
    ]
    assert [c.position for c in chunks] == [0, 1, 2, 3]


def test_hashes_inside_code_fences_are_not_headings() -> None:
    text = "# Real\n\n```bash\n# just a comment\necho hi\n```\n"
    chunks = chunk_blocks(extract("markdown", text.encode()), 50, 10)
    assert {c.heading_path for c in chunks} == {("Real",)}
    assert "# just a comment" in chunks[0].text


def test_chunks_are_bounded_and_overlap() -> None:
    paragraph = " ".join(sentence(i) for i in range(60))
    chunks = chunk_blocks(extract("text", paragraph.encode()), max_tokens=60, overlap_tokens=15)
    assert len(chunks) > 5
    assert all(c.token_count <= 60 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        # The next chunk starts with the end of the previous one.
        assert after.text.split("\n\n")[0] in before.text
    joined = " ".join(c.text for c in chunks)
    assert all(sentence(i) in joined for i in range(60))


def test_a_single_huge_word_is_cut() -> None:
    chunks = chunk_blocks(extract("text", ("x" * 5000).encode()), max_tokens=20, overlap_tokens=0)
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks) == "x" * 5000


def test_html_skips_scripts_and_keeps_headings() -> None:
    html = (
        "<html><head><title>T</title><script>var secret = 1;</script></head><body>"
        "<h1>Help</h1><p>Welcome &amp; hello.</p><h2>Billing</h2><ul><li>Pay monthly</li>"
        "<li>Pay yearly</li></ul><style>p{}</style></body></html>"
    )
    chunks = chunk_blocks(extract("html", html.encode()), 100, 10)
    texts = {c.heading_path: c.text for c in chunks}
    assert texts[("Help",)] == "Welcome & hello."
    assert "Pay monthly" in texts[("Help", "Billing")]
    assert all("secret" not in c.text and "p{}" not in c.text for c in chunks)


def test_pdf_text_is_extracted_per_page() -> None:
    pdf = make_pdf([["Refunds take five days."], ["Shipping is free over 50 euros."]])
    blocks = extract("pdf", pdf)
    assert [(b.heading_path, b.text) for b in blocks] == [
        (("Page 1",), "Refunds take five days."),
        (("Page 2",), "Shipping is free over 50 euros."),
    ]


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        ("pdf", b"%PDF-1.4\nthis is not really a pdf", "could not be read"),
        ("pdf", make_pdf([[]]), "no extractable text"),
        ("text", b"   \n\n  ", "no text"),
        ("text", b"caf\xe9 latin-1", "not valid UTF-8"),
    ],
)
def test_unreadable_documents_fail_with_a_reason(kind: str, data: bytes, reason: str) -> None:
    with pytest.raises(ExtractionFailed, match=reason):
        extract(kind, data)


def test_embedding_text_gives_context_and_faq_questions_alone() -> None:
    assert embedding_text(("A", "B"), "body") == "A > B\n\nbody"
    assert embedding_text((), "body") == "body"
    assert embedding_text(("How do I pay?",), "With a card.", is_faq=True) == "How do I pay?"
    assert count_tokens("Hello, world!") == 4
