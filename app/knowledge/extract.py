"""Files in, text out: checking what an upload really is, then extracting its text.

`inspect_upload` runs in the request, before anything is stored, and refuses what can never be
processed (empty, oversized, unsupported, a content type its bytes contradict, undecodable
text) with an error naming the file. `extract` runs in the worker and turns stored bytes into
blocks of text, each with the heading path it sits under.
"""

from __future__ import annotations

import codecs
import io
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath

from app.errors import ValidationFailed

KINDS = ("text", "markdown", "html", "pdf")

_DECLARED: dict[str, str] = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
}
_EXTENSIONS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_GENERIC = {"", "application/octet-stream", "binary/octet-stream"}

MAX_PDF_PAGES = 2_000
MAX_EXTRACTED_CHARS = 5_000_000
# A PDF's streams are compressed: a few KiB can inflate to gigabytes of drawing instructions,
# and pypdf parses those in pure Python (roughly 0.1-1 s per MiB). Bound what one stream and
# one page may inflate to, the whole document, and the time spent reading it.
MAX_PDF_STREAM_BYTES = 8 * 1024 * 1024
MAX_PDF_PAGE_CONTENT_BYTES = 2 * 1024 * 1024
MAX_PDF_CONTENT_BYTES = 64 * 1024 * 1024
MAX_PDF_EXTRACT_S = 120.0


class ExtractionFailed(Exception):
    """The stored bytes cannot be turned into text; the reason is shown to the user."""


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph-sized piece of text and the headings it sits under."""

    heading_path: tuple[str, ...]
    text: str


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    return b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def decode_text(data: bytes, *, name: str = "The file") -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else is refused."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        encoding = "utf-8"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"{name} is not valid {encoding.upper()} text (undecodable byte at offset "
            f"{exc.start}); save it as UTF-8 and upload it again.",
            field="file",
        ) from exc
    if "\x00" in text:
        raise ValidationFailed(f"{name} contains NUL characters; it is not text.", field="file")
    return text


def inspect_upload(
    filename: str | None, declared_type: str | None, data: bytes, *, max_bytes: int
) -> str:
    """The document kind of an upload, or a VALIDATION error saying what is wrong with it."""
    name = f"The file {filename!r}" if filename else "The file"
    if not data:
        raise ValidationFailed(f"{name} is empty.", field="file")
    if len(data) > max_bytes:
        raise ValidationFailed(
            f"{name} is {len(data):,} bytes; the limit is {max_bytes:,} bytes "
            f"({_human(max_bytes)}).",
            field="file",
            max_bytes=max_bytes,
        )
    declared = (declared_type or "").split(";")[0].strip().lower()
    extension = PurePosixPath(filename or "").suffix.lower()
    by_type = _DECLARED.get(declared)
    by_extension = _EXTENSIONS.get(extension)
    if declared not in _GENERIC and by_type is None:
        raise ValidationFailed(
            f"{name} has the unsupported type {declared}; upload PDF, HTML, Markdown or plain "
            "text.",
            field="file",
        )
    if by_type is None and by_extension is None:
        raise ValidationFailed(
            f"{name} has no recognisable type; upload a .pdf, .html, .md or .txt file (or send "
            "its content type).",
            field="file",
        )
    kind = by_type or by_extension
    assert kind is not None
    is_pdf = data.startswith(b"%PDF-")
    if kind == "pdf" and not is_pdf:
        raise ValidationFailed(
            f"{name} is declared as a PDF but its content is not a PDF.", field="file"
        )
    if kind != "pdf" and (is_pdf or _looks_binary(data)):
        label = declared if declared not in _GENERIC else f"a {extension} file"
        raise ValidationFailed(
            f"{name} is declared as {label} but its content is binary"
            + (" (a PDF)." if is_pdf else "."),
            field="file",
        )
    if kind != "pdf":
        decode_text(data, name=name)
    return kind


# --- extraction (worker side) -------------------------------------------------------------

_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^(```|~~~)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|(?<!\w)\*(?!\s)|(?<!\w)_(?!\s)|`)")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n[ \t]*\n+", text) if p.strip()]


def _clean_markdown_inline(text: str) -> str:
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _HTML_TAG.sub("", text)
    return _EMPHASIS.sub("", text)


def _markdown_blocks(text: str) -> list[Block]:
    """Sections under ATX headings (`#` to `######`), ignoring `#` lines inside code fences."""
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    in_fence = False

    def flush() -> None:
        heading = tuple(title for _, title in path)
        for paragraph in _paragraphs("\n".join(buffer)):
            is_code = paragraph.startswith(("```", "~~~"))
            blocks.append(
                Block(heading, paragraph if is_code else _clean_markdown_inline(paragraph))
            )
        buffer.clear()

    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
            buffer.append(line)
            continue
        match = None if in_fence else _ATX.match(line)
        if match:
            flush()
            level, title = len(match.group(1)), _clean_markdown_inline(match.group(2)).strip()
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, title))
            continue
        buffer.append(line)
    flush()
    return blocks


_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "li", "ul",
    "ol", "table", "tr", "br", "pre", "blockquote", "dd", "dt", "dl", "figure", "figcaption",
    "form", "hr",
}  # fmt: skip
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, split at block elements, with heading paths."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []
        self.text: list[str] = []
        self.skip_depth = 0
        self.heading_level: int | None = None
        self.heading_text: list[str] = []

    def _flush(self) -> None:
        text = re.sub(r"[ \t\r\f\v]+", " ", "".join(self.text))
        text = re.sub(r"\s*\n\s*", "\n", text).strip()
        if text:
            self.blocks.append(Block(tuple(t for _, t in self.path), text))
        self.text.clear()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag in _HEADINGS:
            self._flush()
            self.heading_level = _HEADINGS[tag]
            self.heading_text = []
        elif tag in _BLOCK_TAGS:
            if tag == "br":
                self.text.append("\n")
            else:
                self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _HEADINGS and self.heading_level is not None:
            title = re.sub(r"\s+", " ", "".join(self.heading_text)).strip()
            level = self.heading_level
            self.heading_level = None
            if title:
                while self.path and self.path[-1][0] >= level:
                    self.path.pop()
                self.path.append((level, title))
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.heading_level is not None:
            self.heading_text.append(data)
        else:
            self.text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _html_blocks(text: str) -> list[Block]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return parser.blocks


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MiB"


def _pdf_blocks(data: bytes) -> list[Block]:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PdfReadError, PyPdfError

    deadline = time.monotonic() + MAX_PDF_EXTRACT_S

    def check_deadline(*_: object) -> None:
        # Called by pypdf before each drawing operator: stops a page that never ends.
        if time.monotonic() > deadline:
            raise ExtractionFailed(
                f"Reading the PDF's text took longer than {MAX_PDF_EXTRACT_S:.0f} s; "
                "split it into smaller files."
            )

    try:
        with apply_configuration(
            zlib_maximum_output_length=MAX_PDF_STREAM_BYTES,
            lzw_maximum_output_length=MAX_PDF_STREAM_BYTES,
            run_length_maximum_output_length=MAX_PDF_STREAM_BYTES,
            maximum_declared_stream_length=MAX_PDF_STREAM_BYTES,
        ):
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise ExtractionFailed("The PDF is password-protected; upload an unprotected copy.")
            pages = reader.pages
            if len(pages) > MAX_PDF_PAGES:
                raise ExtractionFailed(
                    f"The PDF has {len(pages)} pages; the limit is {MAX_PDF_PAGES}."
                )
            # Measure every page before reading any: a bomb is refused in a second or two,
            # not after minutes of parsing the pages before it.
            inflated = 0
            for number, page in enumerate(pages, start=1):
                check_deadline()
                contents = page.get_contents()
                size = len(contents.get_data()) if contents is not None else 0
                if size > MAX_PDF_PAGE_CONTENT_BYTES:
                    raise ExtractionFailed(
                        f"Page {number} of the PDF inflates to {size:,} bytes of drawing "
                        f"instructions; the limit is {_mib(MAX_PDF_PAGE_CONTENT_BYTES)} a page."
                    )
                inflated += size
                if inflated > MAX_PDF_CONTENT_BYTES:
                    raise ExtractionFailed(
                        f"The PDF inflates to more than {_mib(MAX_PDF_CONTENT_BYTES)} of "
                        "drawing instructions; split it into smaller files."
                    )
            blocks: list[Block] = []
            for number, page in enumerate(pages, start=1):
                check_deadline()
                page_text = page.extract_text(visitor_operand_before=check_deadline) or ""
                for paragraph in _paragraphs(page_text.replace("\r", "\n")):
                    blocks.append(Block((f"Page {number}",), re.sub(r"[ \t]+", " ", paragraph)))
    except ExtractionFailed:
        raise
    except LimitReachedError as exc:
        raise ExtractionFailed(
            f"The PDF holds a stream that inflates past {_mib(MAX_PDF_STREAM_BYTES)}; "
            "it cannot be processed."
        ) from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionFailed(f"The PDF could not be read: {exc}") from exc
    if not blocks:
        raise ExtractionFailed(
            "The PDF contains no extractable text (scanned pages are not supported)."
        )
    return blocks


def extract(kind: str, data: bytes) -> list[Block]:
    """The text of a stored document as blocks; ExtractionFailed says why when impossible."""
    if kind == "pdf":
        blocks = _pdf_blocks(data)
    else:
        try:
            text = decode_text(data)
        except ValidationFailed as exc:
            raise ExtractionFailed(exc.message) from exc
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if kind == "markdown":
            blocks = _markdown_blocks(text)
        elif kind == "html":
            blocks = _html_blocks(text)
        else:
            blocks = [Block((), p) for p in _paragraphs(text)]
    total = sum(len(b.text) for b in blocks)
    if total == 0:
        raise ExtractionFailed("The document contains no text.")
    if total > MAX_EXTRACTED_CHARS:
        raise ExtractionFailed(
            f"The document holds {total} characters of text; the limit is {MAX_EXTRACTED_CHARS}."
        )
    return blocks


def faq_blocks(question: str, answer: str) -> list[Block]:
    """An FAQ entry is one block: the question as its heading, the answer as its text."""
    return [Block((question,), answer.strip())]
