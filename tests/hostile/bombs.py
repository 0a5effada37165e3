"""Hostile files: PDFs whose compressed streams inflate enormously, and zip archives (the
container of DOCX) with a member of huge compression ratio."""

from __future__ import annotations

import io
import zipfile
import zlib


def inflating_pdf(pages: int, inflated_bytes: int, *, comment: bool = False) -> bytes:
    """A valid PDF of `pages` pages, each drawing one word and then `inflated_bytes` of padding
    (whitespace, or one long comment line) squeezed by FlateDecode to almost nothing."""
    padding = b"%" + b"a" * inflated_bytes + b"\n" if comment else b" " * inflated_bytes
    stream = zlib.compress(b"BT /F1 12 Tf 72 720 Td (inflated) Tj ET\n" + padding, 9)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    page_ids = [4 + 2 * i for i in range(pages)]
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page_id in page_ids:
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font "
            f"<< /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>".encode()
        )
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
            + stream
            + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def zip_bomb(member_bytes: int = 1 << 30) -> bytes:
    """A DOCX-shaped zip whose document.xml inflates to `member_bytes` (1 GiB by default) from
    about a megabyte, written in slices so building it never holds the inflated member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(member_bytes // len(chunk)):
                member.write(chunk)
    return buffer.getvalue()
