"""Origins as browsers send them: scheme, host and port, nothing else.

An allowlist entry is an exact origin (`https://shop.example.com`, `http://localhost:5173`) or,
only when written that way, a wildcard for subdomains (`https://*.example.com`), which never
matches the bare domain and never matches look-alikes such as `evil-example.com`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from app.errors import ValidationFailed

MAX_ORIGINS = 20
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(
    value: str, *, allow_wildcard: bool = False, field: str = "allowedOrigins"
) -> str:
    """The canonical form of an origin, or a VALIDATION error saying what is wrong."""
    raw = value.strip()
    if not raw or len(raw) > 300:
        raise ValidationFailed("An origin must be 1 to 300 characters.", field=field)
    if raw == "null":
        raise ValidationFailed("The 'null' origin cannot be allowed.", field=field)
    parts = urlsplit(raw)
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValidationFailed(f"{raw!r}: an origin starts with http:// or https://.", field=field)
    if (
        parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ValidationFailed(
            f"{raw!r}: an origin is scheme, host and port only (no path, query or user).",
            field=field,
        )
    host = (parts.hostname or "").lower()
    wildcard = host.startswith("*.")
    bare = host[2:] if wildcard else host
    if wildcard and not allow_wildcard:
        raise ValidationFailed(f"{raw!r}: wildcards are not allowed here.", field=field)
    if (
        not bare
        or "*" in bare
        or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum()
            for label in bare.split(".")
        )
    ):
        raise ValidationFailed(f"{raw!r}: the host is not valid.", field=field)
    if wildcard and "." not in bare:
        raise ValidationFailed(f"{raw!r}: a wildcard needs a domain with a dot.", field=field)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed(f"{raw!r}: the port is not valid.", field=field) from exc
    netloc = host if port in (None, _DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


def normalize_origins(values: list[str], *, field: str = "allowedOrigins") -> list[str]:
    """Validate and de-duplicate an allowlist (at most 20 entries)."""
    if len(values) > MAX_ORIGINS:
        raise ValidationFailed(f"At most {MAX_ORIGINS} origins are allowed.", field=field)
    seen: dict[str, None] = {}
    for value in values:
        seen[normalize_origin(value, allow_wildcard=True, field=field)] = None
    return list(seen)


def origin_allowed(origin: str | None, allowlist: Sequence[str]) -> bool:
    """True when the browser-sent `origin` matches an entry exactly or by explicit wildcard."""
    if not origin or origin == "null":
        return False
    try:
        candidate = normalize_origin(origin)
    except ValidationFailed:
        return False
    if candidate in allowlist:
        return True
    scheme, _, netloc = candidate.partition("://")
    for entry in allowlist:
        entry_scheme, _, entry_netloc = entry.partition("://")
        if entry_scheme != scheme or not entry_netloc.startswith("*."):
            continue
        suffix = entry_netloc[1:]  # ".example.com[:port]"
        if netloc.endswith(suffix) and len(netloc) > len(suffix):
            return True
    return False
