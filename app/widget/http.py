"""The widget's HTTP surface: a CORS-enabled GraphQL endpoint and the static script.

Browsers send a preflight (OPTIONS) before the widget's cross-origin POST, without the
Authorization header, so the publishable key also travels in the URL (`?key=pk_…`): the
preflight is answered only for an origin that key allows, and never by reflecting whatever
Origin arrived. `null` and unknown origins get no CORS headers at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, get, post, route
from litestar.enums import HttpMethod
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from app.config import Settings
from app.db.tenant import tenant_transaction
from app.graphql.http import build_guards, handle
from app.state import AppState
from tenancy.apikeys import cache as key_cache
from tenancy.apikeys import repository as keys_repo
from tenancy.apikeys.models import ApiKey
from tenancy.apikeys.origins import origin_allowed
from tenancy.apikeys.service import find_by_plaintext
from tenancy.security_events import service as security_events

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
WIDGET_VERSION = "v1"
_CORS_HEADERS = "authorization, content-type, accept"


async def allowed_origin(state: AppState, key: str | None, origin: str | None) -> str | None:
    """`origin` when the publishable key `key` is active and allows it, else None."""
    if not key or not origin:
        return None

    async def load(workspace_id: uuid.UUID, secret_hash: bytes) -> ApiKey | None:
        async with tenant_transaction(state.sessions, workspace_id) as session:
            return await keys_repo.find_active_key(session, workspace_id, secret_hash)

    # Every widget call asks this before anything else: through the hot cache, a known key
    # costs no database transaction at all.
    found = await find_by_plaintext(state.cache.cache(key_cache.SPEC), key, "publishable", load)
    if found is None:
        return None
    workspace_id, publishable = found
    if publishable is None or not origin_allowed(origin, publishable.allowed_origins):
        security_events.origin_refused(workspace_id=workspace_id, origin=origin)
        return None
    return origin


def _cors(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": _CORS_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def widget_routes(schema: Any, settings: Settings) -> list[Any]:
    """Route handlers under /widget for this schema. (Plain handlers rather than a Controller:
    Litestar replaces an OPTIONS handler declared inside a controller with its default one.)"""
    guards = build_guards(settings)

    @route(
        "/widget/graphql",
        http_method=[HttpMethod.OPTIONS],
        include_in_schema=False,
        status_code=204,
    )
    async def widget_preflight(request: Request[Any, Any, Any]) -> Response[None]:
        origin = await allowed_origin(
            request.app.state.parley,
            request.query_params.get("key"),
            request.headers.get("origin"),
        )
        if origin is None:
            return Response(None, status_code=403, headers={"Vary": "Origin"})
        return Response(None, status_code=204, headers=_cors(origin))

    @post("/widget/graphql", include_in_schema=False, status_code=200)
    async def widget_graphql(request: Request[Any, Any, Any]) -> Response[bytes]:
        state: AppState = request.app.state.parley
        origin = await allowed_origin(
            state, request.query_params.get("key"), request.headers.get("origin")
        )
        response = await handle(state, schema, guards, request)
        if origin is not None:
            response.headers.update(_cors(origin))
        else:
            response.headers["Vary"] = "Origin"
        return response

    @get(f"/widget/{WIDGET_VERSION}/{{name:str}}", include_in_schema=False)
    async def widget_static(name: Annotated[str, Parameter()]) -> Response[bytes]:
        asset = _asset(name)
        if asset is None:
            raise NotFoundException()
        content, media_type, _ = asset
        return Response(
            content,
            media_type=media_type,
            headers={
                # Versioned URL: the content never changes under it.
                "Cache-Control": "public, max-age=31536000, immutable",
                "Access-Control-Allow-Origin": "*",
                "Cross-Origin-Resource-Policy": "cross-origin",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @get(f"/widget/{WIDGET_VERSION}/manifest.json", include_in_schema=False)
    async def widget_manifest() -> Response[dict[str, Any]]:
        return Response(
            manifest(),
            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    return [widget_preflight, widget_graphql, widget_static, widget_manifest]


_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations" / "widget"
_PLACEHOLDER = b"/*PARLEY_OPERATIONS*/{}"


def widget_operations() -> dict[str, str]:
    """The widget's persisted operations by name, as the files hold them."""
    return {path.stem: path.read_text() for path in sorted(OPERATIONS.glob("*.graphql"))}


@lru_cache(maxsize=16)
def _asset(name: str) -> tuple[bytes, str, str] | None:
    if "/" in name or name.startswith(".") or Path(name).suffix not in _TYPES:
        return None
    path = STATIC / name
    if not path.is_file():
        return None
    content = path.read_bytes()
    if _PLACEHOLDER in content:
        # The operations travel inside the script, so the widget can only ever send the
        # documents the allowlist holds; the SRI hash covers them too.
        ops = json.dumps(widget_operations(), separators=(",", ":"), sort_keys=True)
        content = content.replace(_PLACEHOLDER, ops.encode())
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()
    return content, _TYPES[path.suffix], integrity


def manifest() -> dict[str, Any]:
    """Files of this widget version with their Subresource Integrity hashes."""
    files = {}
    for path in sorted(STATIC.glob("*.js")):
        asset = _asset(path.name)
        if asset is not None:
            files[path.name] = {
                "url": f"/widget/{WIDGET_VERSION}/{path.name}",
                "integrity": asset[2],
                "bytes": len(asset[0]),
            }
    return {"version": WIDGET_VERSION, "files": files}


def snippet(api_url: str, key: str) -> str:
    """The tag a customer pastes into their page."""
    info = manifest()["files"].get("parley-widget.js")
    integrity = f' integrity="{info["integrity"]}"' if info else ""
    return (
        f'<script src="{api_url}/widget/{WIDGET_VERSION}/parley-widget.js"{integrity} '
        f'crossorigin="anonymous" data-parley-key="{key}" data-parley-api="{api_url}" '
        "defer></script>"
    )
