"""Hostile uploads: random bytes under every declared type, a DOCX-shaped zip bomb, PDFs whose
streams inflate enormously, an oversized PDF, a PDF with too many pages, content that
contradicts its declared type and a 100,000-line Markdown file.

Each is refused at the door with a VALIDATION error naming the file, or accepted and then
ends READY or FAILED with a reason; the worker finishes everything in bounded time, a
document uploaded before the barrage is untouched and one uploaded after it is processed.
Extraction of the bombs is also measured in a child process: bounded time and memory.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from app.knowledge.extract import (
    MAX_PDF_CONTENT_BYTES,
    MAX_PDF_PAGE_CONTENT_BYTES,
    MAX_PDF_PAGES,
    MAX_PDF_STREAM_BYTES,
)
from tests.hostile.bombs import inflating_pdf, zip_bomb
from tests.support.ai import Stack
from tests.support.knowledge import add_document, chunk_rows, make_pdf, upload

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIB = 1024 * 1024


def _random_cases(rng: random.Random) -> list[tuple[str, str, bytes, str | None, str]]:
    """Random content under every pairing of declared type and file name."""
    declared = [
        "text/plain", "text/markdown", "text/html", "application/pdf",
        "application/octet-stream", "image/png", None,
    ]  # fmt: skip
    names = ["r.txt", "r.md", "r.pdf", "r.bin", "r.docx"]
    cases = []
    for content_type in declared:
        for name in names:
            size = rng.randint(1, 64 * 1024)
            flavour = rng.choice(["bytes", "pdf-header", "unicode", "nul-text"])
            if flavour == "bytes":
                data = rng.randbytes(size)
            elif flavour == "pdf-header":
                data = b"%PDF-1.7\n" + rng.randbytes(size)
            elif flavour == "unicode":
                data = "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(size // 3)).encode()
            else:
                data = b"text " * (size // 10) + b"\x00" + b"more"
            cases.append(
                (f"random {flavour} as {content_type} {name}", name, data, content_type, "")
            )
    return cases


def _hostile_cases() -> list[tuple[str, str, bytes, str | None, str]]:
    """(label, file name, bytes, declared type, expected end: "refused: ...", "failed: ...",
    "ready" or "" for either)."""
    bomb = zip_bomb(256 * MIB)
    lines = "\n".join(
        f"# Part {i // 1000}" if i % 1000 == 0 else f"- item {i}" for i in range(100_000)
    )
    return [
        ("zip bomb as DOCX", "bomb.docx", bomb, DOCX, "refused: unsupported type"),
        ("zip bomb as zip", "bomb.zip", bomb, "application/zip", "refused: unsupported type"),
        ("zip bomb as Markdown", "bomb.md", bomb, "application/octet-stream", "refused: binary"),
        ("zip bomb as PDF", "bomb.pdf", bomb, "application/pdf", "refused: not a PDF"),
        (
            "PDF over the size limit",
            "huge.pdf",
            make_pdf([["big"]]) + b"%" * (10 * MIB),
            "application/pdf",
            "refused: the limit is 10,485,760 bytes",
        ),
        (
            "PDF stream inflating past the stream limit",
            "stream.pdf",
            inflating_pdf(1, MAX_PDF_STREAM_BYTES + MIB),
            "application/pdf",
            "failed: inflates past 8 MiB",
        ),
        (
            "PDF page inflating past the page limit",
            "page.pdf",
            inflating_pdf(1, MAX_PDF_PAGE_CONTENT_BYTES + MIB, comment=True),
            "application/pdf",
            "failed: the limit is 2 MiB a page",
        ),
        (
            "PDF inflating past the document limit",
            "pages.pdf",
            inflating_pdf(
                MAX_PDF_CONTENT_BYTES // MAX_PDF_PAGE_CONTENT_BYTES + 2,
                MAX_PDF_PAGE_CONTENT_BYTES - 4096,
                comment=True,
            ),
            "application/pdf",
            "failed: inflates to more than 64 MiB",
        ),
        (
            "PDF with too many pages",
            "many.pdf",
            make_pdf([[f"page {i}"] for i in range(MAX_PDF_PAGES + 1)]),
            "application/pdf",
            f"failed: the limit is {MAX_PDF_PAGES}",
        ),
        (
            "PDF with 300 pages",
            "book.pdf",
            make_pdf([[f"Chapter {i} explains returns."] for i in range(300)]),
            "application/pdf",
            "ready",
        ),
        ("PDF declared as text", "doc.txt", make_pdf([["hi"]]), "text/plain", "refused: binary"),
        (
            "text declared as PDF",
            "doc.pdf",
            b"plain words",
            "application/pdf",
            "refused: not a PDF",
        ),
        (
            "HTML declared as Markdown",
            "page.md",
            b"<h1>Hi</h1><p>there</p>",
            "text/markdown",
            "ready",
        ),
        (
            "Latin-1 declared as text",
            "latin.txt",
            "caf\xe9".encode("latin-1"),
            "text/plain",
            "refused: not valid UTF-8",
        ),
        ("100k-line Markdown", "long.md", lines.encode(), "text/markdown", "ready"),
    ]


async def test_hostile_uploads_end_cleanly(hostile: Stack) -> None:
    tenant = await hostile.factory.tenant("Upload fuzz")
    control = await add_document(tenant, "The control document says returns take 30 days.")
    await hostile.drain()
    control_chunks = await chunk_rows(hostile.state, tenant.id, control["id"])
    assert control_chunks

    cases = _random_cases(random.Random(20261204)) + _hostile_cases()
    accepted: dict[str, tuple[str, str]] = {}
    tally: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    for label, name, data, content_type, expected in cases:
        result = await upload(tenant, name, data, content_type)
        errors = result.body.get("errors")
        if errors:
            [error] = errors
            tally["refused"] += 1
            ok = (
                result.status < 500
                and error["extensions"].get("code") == "VALIDATION"
                and error["extensions"].get("field") == "file"
                and (not expected or expected.startswith("refused"))
                and expected.removeprefix("refused: ") in error["message"]
            )
            if not ok:
                failures.append(
                    f"{label}: refused as {result.status} {errors}, expected {expected}"
                )
        else:
            accepted[label] = (result.body["data"]["uploadDocument"]["id"], expected)
    drain_started = time.monotonic()
    await hostile.drain(limit_s=240)
    drained_s = time.monotonic() - drain_started

    for label, (document_id, expected) in accepted.items():
        document = (await tenant.gql.op("Document", {"id": document_id})).data["document"]
        status, error = document["status"], document["error"] or ""
        tally[status.lower()] += 1
        if status == "READY":
            ok = expected in ("", "ready") and document["chunkCount"] > 0
        elif status == "FAILED":
            ok = (
                bool(error)
                and "Unexpected" not in error
                and expected in ("", "failed: " + expected.removeprefix("failed: "))
            )
            ok = ok and expected.removeprefix("failed: ") in error
        else:
            ok = False
        if not ok:
            failures.append(f"{label}: {status} {error!r}, expected {expected!r}")
    print(
        f"\nupload fuzz: {len(cases)} uploads in {drain_started - started:.1f} s, worker drained "
        f"them in {drained_s:.1f} s; {dict(tally)}"
    )
    assert not failures, "\n".join(failures)

    # The document from before the barrage is untouched, and the worker still works.
    assert await chunk_rows(hostile.state, tenant.id, control["id"]) == control_chunks
    after = await add_document(tenant, "A document added after the barrage.")
    await hostile.drain()
    done = (await tenant.gql.op("Document", {"id": after["id"]})).data["document"]
    assert done["status"] == "READY"


_MEASURE = """
import json, sys, time, tracemalloc
from app.knowledge.extract import ExtractionFailed, extract
data = open(sys.argv[1], "rb").read()
tracemalloc.start()
started = time.monotonic()
try:
    outcome = f"{len(extract('pdf', data))} blocks"
except ExtractionFailed as exc:
    outcome = str(exc)
seconds = time.monotonic() - started
peak = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
print(json.dumps({"outcome": outcome, "seconds": round(seconds, 2), "peak_mib": round(peak, 1)}))
"""


@pytest.mark.parametrize(
    ("pages", "inflated", "comment"),
    [
        (1, 64 * MIB, False),  # one stream: refused while inflating, never held whole
        (1, 3 * MIB, True),  # one page over the page limit
        (40, 2 * MIB - 4096, True),  # many pages just under it, together over the total
        (200, 1 * MIB, False),  # 200 MiB of whitespace from a ~200 KiB file
    ],
)
def test_pdf_bombs_are_refused_in_bounded_time_and_memory(
    tmp_path: Path, repo_root: Path, pages: int, inflated: int, comment: bool
) -> None:
    path = tmp_path / "bomb.pdf"
    path.write_bytes(inflating_pdf(pages, inflated, comment=comment))
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(measured.stdout)
    print(f"\n{pages} x {inflated} bytes from {path.stat().st_size} bytes: {result}")
    assert "inflate" in result["outcome"]
    assert result["seconds"] < 30  # minutes before the limits; traced, on a busy machine
    assert result["peak_mib"] < 150  # allocations while extracting, traced
