"""GraphQL over HTTP: the request as the client sent it, request-level errors, and media types.

Implements the GraphQL-over-HTTP specification's content negotiation: a client that accepts
`application/graphql-response+json` gets it (and with it 4xx statuses for documents that fail
to parse or validate); `application/json`, `*/*` or no Accept header get `application/json`;
a client that accepts neither gets 406.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
_CANDIDATES = (GRAPHQL_RESPONSE, JSON)


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """One operation as the client sent it."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None

    def with_query(self, query: str) -> GraphQLRequest:
        """The same operation with its document filled in (persisted queries)."""
        return replace(self, query=query)


class RequestError(Exception):
    """The HTTP request itself is malformed or refused (not a GraphQL execution error).

    `legacy_status` replaces `status` for clients that asked for application/json, where the
    specification expects 200 for some failures the newer media type reports as 4xx.
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        *,
        legacy_status: int | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.legacy_status = legacy_status
        self.headers = headers or {}
        self.extensions = extensions

    def status_for(self, media_type: str) -> int:
        """The HTTP status in the negotiated media type."""
        if media_type == JSON and self.legacy_status is not None:
            return self.legacy_status
        return self.status

    def body(self) -> dict[str, Any]:
        """The GraphQL-shaped error response."""
        extensions = {"code": self.code, **self.extensions}
        return {"errors": [{"message": self.message, "extensions": extensions}]}


def _ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    return ranges


# Clients send the same few Accept headers on every request.
@lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None when nothing offered fits.

    The most specific matching range gives a type its quality; the highest quality wins. On a
    tie an explicitly named application/graphql-response+json wins, while wildcards (`*/*`,
    `application/*`) get application/json, as the specification's legacy rules ask.
    """
    if not accept or not accept.strip():
        return JSON
    ranges = _ranges(accept)
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for candidate in _CANDIDATES:
        family = candidate.split("/")[0] + "/*"
        matches = [
            (q, specificity)
            for media, q in ranges
            for pattern, specificity in ((candidate, 2), (family, 1), ("*/*", 0))
            if media == pattern
        ]
        if not matches:
            continue
        q, specificity = max(matches, key=lambda m: m[1])
        if q <= 0:
            continue
        explicit = candidate == GRAPHQL_RESPONSE if specificity == 2 else candidate == JSON
        score = (q, specificity, int(explicit))
        if best is None or score > best:
            best, chosen = score, candidate
    return chosen
