"""Helpers for knowledge tests: documents through the API, uploads, and tiny real PDFs."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import text

from app.db.tenant import tenant_transaction
from app.graphql.node import from_global_id
from app.state import AppState
from tests.support.factories import Tenant
from tests.support.graphql import Result


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal, valid PDF whose pages show the given lines in Helvetica."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        content_id = page_ids[i] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>".encode()
        )
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode()
        objects.append(
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


async def add_document(
    tenant: Tenant, content: str, fmt: str = "MARKDOWN", **extra: Any
) -> dict[str, Any]:
    """Add an inline document and return it."""
    result = await tenant.gql.op(
        "AddDocument", {"input": {"content": content, "format": fmt, **extra}}
    )
    return result.data["addDocument"]  # type: ignore[no-any-return]


async def upload(
    tenant: Tenant,
    filename: str,
    data: bytes,
    content_type: str | None,
    *,
    operation: str = "UploadDocument",
    variables: dict[str, Any] | None = None,
    path: str = "variables.input.file",
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> Result:
    """Send a GraphQL multipart request carrying one file."""
    from tests.support.graphql import operation as op_text

    gql = tenant.gql
    values = variables if variables is not None else {"input": {"file": None}}
    operations = {"query": op_text(operation), "variables": values, "operationName": operation}
    send_headers = dict(headers or {})
    if auth:
        send_headers["authorization"] = f"Bearer {gql.token}"
        send_headers["x-workspace-id"] = str(gql.workspace)
    file_tuple = (filename, data, content_type) if content_type else (filename, data)
    response = await gql.http.post(
        "/graphql",
        data={
            "operations": orjson.dumps(operations).decode(),
            "map": orjson.dumps({"0": [path]}).decode(),
        },
        files={"0": file_tuple},
        headers=send_headers,
    )
    return Result(response.status_code, response.json(), response.headers)


def row_id(global_id: str) -> uuid.UUID:
    """The row id inside a global id."""
    return from_global_id(global_id)[1]


async def chunk_rows(state: AppState, workspace_id: str, document_id: str) -> list[Any]:
    """The stored chunks of a document (as the application role, under the tenant)."""
    async with tenant_transaction(state.sessions, row_id(workspace_id)) as session:
        rows = await session.execute(
            text(
                "SELECT position, embedding_model, embedding_dims, heading_path, content, revision "
                "FROM chunks WHERE document_id = :d ORDER BY embedding_model, position"
            ),
            {"d": row_id(document_id)},
        )
        return list(rows)
