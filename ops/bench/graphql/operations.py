"""The three operations as each system spells them, turned into raw HTTP requests.

op1  20 documents of the caller's workspace, newest first, after a cursor: id, title,
     status, createdAt, updatedAt and the author's name, plus hasNextPage/endCursor.
op2  One document by id (8 fields) with its first 10 chunks (id, position, text).
op3  A new title for a document.

Parley's documents use its real schema (`graphql/schema.graphql`); where that schema could
not express an operation, `GAPS` would say what runs instead (the report prints it).
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root

from app.graphql.node import from_global_id, to_global_id

OPS = ("op1", "op2", "op3")

ROOT = Path(__file__).resolve().parents[3]
OPERATIONS = ROOT / "graphql" / "operations" / "knowledge"

# Parley's are the operation documents a dashboard sends (tests/app/test_query_counts.py
# locks their SQL statement counts).
PARLEY = {
    "op1": (OPERATIONS / "DocumentPage.graphql").read_text(),
    "op2": (OPERATIONS / "DocumentWithChunks.graphql").read_text(),
    "op3": (OPERATIONS / "RenameDocument.graphql").read_text(),
}

# Operations Parley cannot express as specified, with what it runs instead (none today:
# Document.addedBy, Document.chunks and renameDocument were added for this benchmark).
GAPS: dict[str, str] = {}

POSTGRAPHILE = {
    "op1": """query BenchDocuments($after: Cursor) {
  allDocuments(first: 20, after: $after, orderBy: PRIMARY_KEY_DESC) {
    edges { node { rowId title status createdAt updatedAt userByCreatedBy { displayName } } }
    pageInfo { hasNextPage endCursor }
  }
}""",
    "op2": """query BenchDocument($workspaceId: UUID!, $id: UUID!) {
  documentByWorkspaceIdAndRowId(workspaceId: $workspaceId, rowId: $id) {
    rowId title kind status sizeBytes chunkCount createdAt updatedAt
    chunksByWorkspaceIdAndDocumentId(first: 10, orderBy: POSITION_ASC) {
      edges { cursor node { rowId position content } }
      pageInfo { hasNextPage endCursor }
    }
  }
}""",
    "op3": """mutation BenchRename($workspaceId: UUID!, $id: UUID!, $title: String!) {
  updateDocumentByWorkspaceIdAndRowId(
    input: {workspaceId: $workspaceId, rowId: $id, documentPatch: {title: $title}}
  ) { document { rowId title updatedAt } }
}""",
}


@dataclass(frozen=True)
class Call:
    """One request before it is rendered: method, path, body (JSON) and workspace."""

    method: str
    path: str
    body: dict[str, Any] | None
    workspace: uuid.UUID


def render(call: Call, port: int, token: str) -> str:
    """The raw HTTP/1.1 request text."""
    body = json.dumps(call.body, separators=(",", ":")) if call.body is not None else ""
    lines = [
        f"{call.method} {call.path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {token}",
        f"X-Workspace-Id: {call.workspace}",
        "Accept: application/json",
    ]
    if call.body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body.encode())}"]
    return "\r\n".join(lines) + "\r\n\r\n" + body


def _gql(query: str, variables: dict[str, Any], workspace: uuid.UUID) -> Call:
    return Call("POST", "/graphql", {"query": query, "variables": variables}, workspace)


def parley_call(op: str, workspace: uuid.UUID, target: Any, n: int) -> Call:
    """Parley's request; `target` is a cursor (op1) or a document id (op2, op3)."""
    if op == "op1":
        return _gql(PARLEY[op], {"after": target}, workspace)
    gid = str(to_global_id("Document", target))
    if op == "op2":
        return _gql(PARLEY[op], {"id": gid}, workspace)
    return _gql(PARLEY[op], {"id": gid, "title": f"Title {n}"}, workspace)


def postgraphile_call(op: str, workspace: uuid.UUID, target: Any, n: int) -> Call:
    """PostGraphile's request."""
    if op == "op1":
        return _gql(POSTGRAPHILE[op], {"after": target}, workspace)
    variables: dict[str, Any] = {"workspaceId": str(workspace), "id": str(target)}
    if op == "op3":
        variables["title"] = f"Title {n}"
    return _gql(POSTGRAPHILE[op], variables, workspace)


def floor_call(op: str, workspace: uuid.UUID, target: Any, n: int) -> Call:
    """The floor's request."""
    if op == "op1":
        query = f"?after={target}" if target else ""
        return Call("GET", f"/documents{query}", None, workspace)
    if op == "op2":
        return Call("GET", f"/documents/{target}", None, workspace)
    return Call("PATCH", f"/documents/{target}", {"title": f"Title {n}"}, workspace)


BUILDERS: dict[str, Callable[[str, uuid.UUID, Any, int], Call]] = {
    "parley": parley_call,
    "postgraphile": postgraphile_call,
    "floor": floor_call,
}


def _end_cursor(system: str, body: dict[str, Any]) -> str | None:
    if system == "floor":
        return body["endCursor"] if body["hasNextPage"] else None
    data = body["data"]
    page = data["documents"] if system == "parley" else data["allDocuments"]
    return page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None


def send(call: Call, port: int, token: str, client: httpx.Client) -> dict[str, Any]:
    """Send one call with httpx (for setup and checks, not for load)."""
    response = client.request(
        call.method,
        f"http://127.0.0.1:{port}{call.path}",
        json=call.body,
        headers={"authorization": f"Bearer {token}", "x-workspace-id": str(call.workspace)},
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise RuntimeError(f"{call.path}: {body['errors']}")
    return body


def _uuid(system: str, value: str) -> str:
    return str(from_global_id(value)[1]) if system == "parley" else value


def answer(system: str, op: str, body: dict[str, Any]) -> Any:
    """What an answer says, in one shape for all systems, to check they agree: op1 the
    page's (id, title, author), op2 the document's title and chunk positions."""
    if system == "floor":
        if op == "op1":
            return [(i["id"], i["title"], i["author"]) for i in body["items"]]
        return (body["title"], [c["position"] for c in body["chunks"]])
    data = body["data"]
    if system == "parley" and op == "op1":
        return [
            (
                _uuid(system, e["node"]["id"]),
                e["node"]["title"],
                e["node"]["addedBy"]["displayName"],
            )
            for e in data["documents"]["edges"]
        ]
    if system == "parley":
        doc = data["document"]
        return (doc["title"], [e["node"]["position"] for e in doc["chunks"]["edges"]])
    if op == "op1":
        return [
            (e["node"]["rowId"], e["node"]["title"], e["node"]["userByCreatedBy"]["displayName"])
            for e in data["allDocuments"]["edges"]
        ]
    doc = data["documentByWorkspaceIdAndRowId"]
    chunks = doc["chunksByWorkspaceIdAndDocumentId"]["edges"]
    return (doc["title"], [e["node"]["position"] for e in chunks])


def check_agreement(
    ports: dict[str, int], token: str, workspace: uuid.UUID, document: uuid.UUID
) -> None:
    """Every system gives the same first page and the same document with the same chunks;
    otherwise the comparison would be between different work, and the run stops."""
    with httpx.Client(timeout=30) as client:
        for op, target in (("op1", None), ("op2", document)):
            seen = {
                system: answer(
                    system,
                    op,
                    send(BUILDERS[system](op, workspace, target, 0), port, token, client),
                )
                for system, port in ports.items()
            }
            values = list(seen.values())
            if any(v != values[0] for v in values) or not values[0]:
                raise RuntimeError(f"the systems disagree on {op}: {seen}")


def cursors(
    system: str, port: int, token: str, workspaces: list[uuid.UUID], pages: int
) -> list[tuple[uuid.UUID, str | None]]:
    """Real cursors of each system: the first `pages` pages of each workspace, walked with
    its own endCursor (so op1 asks for page 1, 2, ... in turn, like a scrolling dashboard)."""
    found: list[tuple[uuid.UUID, str | None]] = []
    with httpx.Client(timeout=30) as client:
        for workspace in workspaces:
            cursor: str | None = None
            for _ in range(pages):
                found.append((workspace, cursor))
                body = send(BUILDERS[system]("op1", workspace, cursor, 0), port, token, client)
                cursor = _end_cursor(system, body)
                if cursor is None:
                    break
    return found


def requests_for(
    system: str,
    op: str,
    port: int,
    token: str,
    targets: list[tuple[uuid.UUID, Any]],
    count: int,
    seed: int,
) -> list[str]:
    """`count` raw requests of one operation over the given (workspace, target) pairs."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible choice, not a secret
    chosen = [targets[rng.randrange(len(targets))] for _ in range(count)]
    return [
        render(BUILDERS[system](op, workspace, target, n), port, token)
        for n, (workspace, target) in enumerate(chosen)
    ]
