"""File uploads through the GraphQL multipart request spec
(https://github.com/jaydenseric/graphql-multipart-request-spec).

A multipart form is a "simple" request that a browser sends cross-site without a CORS
preflight, which is what CSRF relies on. So a multipart request is accepted only when it also
carries a header a cross-site form cannot set without a preflight: `Authorization`,
`X-Workspace-Id` or `GraphQL-Require-Preflight`. (Parley authenticates with bearer tokens,
which a forged form cannot attach anyway; the rule keeps uploads safe should cookies ever be
added.) Each file becomes an `UploadedFile` at the variable paths the `map` field names.
"""

from __future__ import annotations

from typing import Any

import orjson
from litestar import Request
from litestar.datastructures import UploadFile

from app.graphql.http import RequestError
from app.knowledge.service import UploadedFile

PREFLIGHT_HEADERS = ("authorization", "x-workspace-id", "graphql-require-preflight")
MAX_PATHS_PER_FILE = 10


class UploadError(RequestError):
    """The multipart request is malformed (answered like any malformed HTTP request)."""


def _json_field(form: Any, name: str) -> Any:
    raw = form.get(name)
    if raw is None:
        raise UploadError(400, f"The multipart request has no '{name}' field.")
    if isinstance(raw, UploadFile):
        raise UploadError(400, f"The '{name}' field must be JSON text, not a file.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UploadError(400, f"The '{name}' field is not valid JSON.") from exc


def _place(operations: dict[str, Any], path: str, value: UploadedFile) -> None:
    """Put `value` at a dotted path such as `variables.input.file` or `variables.files.0`."""
    parts = path.split(".")
    if len(parts) < 2 or parts[0] != "variables":
        raise UploadError(400, f"The map path {path!r} must start with 'variables.'.")
    target: Any = operations
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                raise UploadError(400, f"The map path {path!r} does not exist in operations.")
            key: Any = int(part)
        elif isinstance(target, dict):
            if part not in target:
                raise UploadError(400, f"The map path {path!r} does not exist in operations.")
            key = part
        else:
            raise UploadError(400, f"The map path {path!r} does not exist in operations.")
        if last:
            if target[key] is not None:
                raise UploadError(400, f"The map path {path!r} must point at a null variable.")
            target[key] = value
        else:
            target = target[key]


async def parse_multipart(request: Request[Any, Any, Any], max_files: int) -> dict[str, Any]:
    """The operation of a multipart request with its files in place."""
    if not any(request.headers.get(h) for h in PREFLIGHT_HEADERS):
        raise UploadError(
            400,
            "Multipart requests must carry an Authorization, X-Workspace-Id or "
            "GraphQL-Require-Preflight header (CSRF protection).",
        )
    try:
        form = await request.form()
    except Exception as exc:
        raise UploadError(400, "The multipart body could not be parsed.") from exc
    operations = _json_field(form, "operations")
    files_map = _json_field(form, "map")
    if not isinstance(operations, dict):
        raise UploadError(400, "The 'operations' field must hold one operation (no batches).")
    if not isinstance(files_map, dict):
        raise UploadError(400, "The 'map' field must be a JSON object.")
    if len(files_map) > max_files:
        raise UploadError(400, f"At most {max_files} files may be sent in one request.")
    for key, paths in files_map.items():
        if not isinstance(paths, list) or not paths or len(paths) > MAX_PATHS_PER_FILE:
            raise UploadError(400, f"map[{key!r}] must be a list of 1 to 10 paths.")
        part = form.get(key)
        if not isinstance(part, UploadFile):
            raise UploadError(400, f"The file {key!r} named in 'map' is missing.")
        uploaded = UploadedFile(
            filename=part.filename or None,
            content_type=part.content_type or None,
            data=await part.read(),
        )
        await part.close()
        for path in paths:
            if not isinstance(path, str):
                raise UploadError(400, f"map[{key!r}] must hold strings.")
            _place(operations, path, uploaded)
    return operations
