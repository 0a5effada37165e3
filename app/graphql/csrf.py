"""CSRF protection for requests a browser could send from another site with the user's cookies.

A cross-site page can make a browser send a "simple" request (GET, or a POST of a form, a
multipart body or text/plain) without a CORS preflight, and the browser attaches the site's
cookies. Parley's own credentials travel in the Authorization header, which a browser never
adds by itself, so bearer requests are safe. Requests that carry cookies and no Authorization
header, and every multipart request (file uploads), must prove they are not simple: a JSON POST
does (its content type forces a preflight), otherwise one of the headers below must be present
(any custom header does: a browser preflights it).
This is the rule Apollo Server uses, so Apollo Client's `Apollo-Require-Preflight` works.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from app.graphql.transport import RequestError

PREFLIGHT_HEADERS = (
    "x-parley-csrf",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "graphql-preflight",
    "graphql-require-preflight",
    # Parley's own headers: a cross-site page cannot add them without a CORS preflight either.
    "authorization",
    "x-workspace-id",
)
_SIMPLE_CONTENT_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}


def check_csrf(request: Request[Any, Any, Any]) -> None:
    """Refuse a request a cross-site page could have forged; see the module docstring."""
    headers = request.headers
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    multipart = content_type.startswith("multipart/")
    cookie_only = "cookie" in headers and "authorization" not in headers
    if not (multipart or cookie_only):
        return
    if any(name in headers for name in PREFLIGHT_HEADERS):
        return
    if request.method == "POST" and content_type and content_type not in _SIMPLE_CONTENT_TYPES:
        return
    raise RequestError(
        400,
        "This request could have been sent by another site: send it as a JSON POST or add "
        "the X-Parley-CSRF header (any value).",
        code="CSRF_REJECTED",
    )
