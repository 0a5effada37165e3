"""Persisted queries: Apollo's automatic persisted queries for everyone, and the allowlist of
operations that publishable keys (the widget) are held to.

APQ protocol: the client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without
the query; an unknown hash answers PERSISTED_QUERY_NOT_FOUND (message `PersistedQueryNotFound`,
which Apollo Client and urql react to by resending with the query); a query whose SHA-256 is not
the hash sent is refused; a query that ran successfully is remembered under its hash. Documents
live in Redis (shared by every API process) behind a small in-process LRU.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import OrderedDict
from pathlib import Path

from graphql import GraphQLSyntaxError, OperationDefinitionNode, parse, print_ast
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.graphql.transport import GraphQLRequest, RequestError

log = logging.getLogger("parley.graphql")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REDIS_TIMEOUT_S = 0.05


def sha256(text: str) -> str:
    """Hex SHA-256 of a document's UTF-8 text, as the APQ protocol computes it."""
    return hashlib.sha256(text.encode()).hexdigest()


def requested_hash(op: GraphQLRequest) -> str | None:
    """The hash from `extensions.persistedQuery`, validated; None when the client sent none."""
    persisted = (op.extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise RequestError(400, "extensions.persistedQuery must be an object.")
    if persisted.get("version") != 1:
        raise RequestError(
            400,
            "Only version 1 of the persisted query protocol is supported.",
            code="PERSISTED_QUERY_NOT_SUPPORTED",
        )
    value = persisted.get("sha256Hash")
    if not isinstance(value, str) or not _SHA256.match(value.lower()):
        raise RequestError(400, "persistedQuery.sha256Hash must be 64 hexadecimal digits.")
    return value.lower()


def _not_found() -> RequestError:
    # The message is what clients look for; 200 under application/json as Apollo Server does
    # (a 400 would make Apollo Client turn persisted queries off), 404 in the newer media type,
    # where a response without data must not be 2xx.
    return RequestError(
        404, "PersistedQueryNotFound", code="PERSISTED_QUERY_NOT_FOUND", legacy_status=200
    )


def _mismatch() -> RequestError:
    return RequestError(
        400,
        "The query's SHA-256 hash does not match extensions.persistedQuery.sha256Hash.",
        code="PERSISTED_QUERY_HASH_MISMATCH",
    )


class PersistedQueries:
    """The APQ store."""

    def __init__(self, prefix: str, ttl_s: int, max_bytes: int, lru_size: int = 2048) -> None:
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._lru: OrderedDict[str, str] = OrderedDict()
        self._lru_size = lru_size

    def _key(self, digest: str) -> str:
        return f"{self.prefix}apq:{digest}"

    async def resolve(self, redis: Redis, op: GraphQLRequest) -> tuple[GraphQLRequest, str | None]:
        """The operation with its document, and the hash to remember it under once it has run
        (None when there is nothing new to remember)."""
        digest = requested_hash(op)
        if digest is None:
            return op, None
        if op.query is not None:
            if sha256(op.query) != digest:
                raise _mismatch()
            return op, (digest if digest not in self._lru else None)
        text = self._lru.get(digest)
        if text is None:
            try:
                async with asyncio.timeout(_REDIS_TIMEOUT_S):
                    raw = await redis.get(self._key(digest))
            except (RedisError, OSError, TimeoutError) as exc:
                # An unreachable store is a miss: the client resends the full query.
                log.warning("persisted query store unreachable: %s", exc)
                raw = None
            if raw is None:
                raise _not_found()
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._cache(digest, text)
        return op.with_query(text), None

    async def remember(self, redis: Redis, digest: str, query: str) -> None:
        """Store a document that ran successfully (bounded in size and lifetime)."""
        self._cache(digest, query)
        if len(query.encode()) > self.max_bytes:
            return
        try:
            async with asyncio.timeout(_REDIS_TIMEOUT_S):
                await redis.set(self._key(digest), query, ex=self.ttl_s)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("persisted query not stored: %s", exc)

    def _cache(self, digest: str, text: str) -> None:
        self._lru[digest] = text
        self._lru.move_to_end(digest)
        while len(self._lru) > self._lru_size:
            self._lru.popitem(last=False)


def _canonical(text: str, max_tokens: int) -> str | None:
    """The document reprinted, so whitespace and commas do not change its identity."""
    try:
        return print_ast(parse(text, no_location=True, max_tokens=max_tokens))
    except GraphQLSyntaxError:
        return None


class Allowlist:
    """Named operations loaded from `*.graphql` files; the only documents some callers may run.

    A caller held to the list sends either the operation's hash (APQ style, no query needed)
    or its text (compared after reprinting, so formatting does not matter).
    """

    def __init__(self, directory: Path, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.by_hash: dict[str, str] = {}
        self._canonical: dict[str, str] = {}
        # The widget sends the files' own text: found as it is, without parsing and
        # reprinting it on every request (the parser's token list and the printer's buffers
        # are reference cycles, left to the cycle collector).
        self._exact: set[str] = set()
        for path in sorted(directory.glob("*.graphql")):
            text = path.read_text()
            document = parse(text)
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) != 1 or operations[0].name is None:
                raise ValueError(f"{path} must hold exactly one named operation")
            if operations[0].name.value != path.stem:
                raise ValueError(f"{path} must be named after its operation")
            self.by_hash[sha256(text)] = text
            self._exact.add(text)
            canonical = print_ast(document)
            self.by_hash[sha256(canonical)] = text
            self._canonical[canonical] = text

    def __len__(self) -> int:
        return len(self._canonical)

    def allows(self, query: str) -> bool:
        """True when `query` is one of the listed documents (formatting aside)."""
        return self._listed(query) is not None

    def _listed(self, query: str) -> str | None:
        """The allowlisted text `query` is, as sent or once reprinted; else None."""
        if query in self._exact:
            return query
        return self._canonical.get(_canonical(query, self.max_tokens) or "")

    def resolve(self, op: GraphQLRequest) -> GraphQLRequest:
        """The allowlisted document this request names, or PERSISTED_QUERY_NOT_IN_LIST."""
        digest = requested_hash(op)
        if digest is not None and digest in self.by_hash:
            text = self.by_hash[digest]
            if op.query is not None and self._listed(op.query) != text:
                raise _mismatch()
            return op.with_query(text)
        if digest is None and op.query is not None:
            text_or_none = self._listed(op.query)
            if text_or_none is not None:
                return op.with_query(text_or_none)
        raise RequestError(
            403,
            "This credential may only run the widget's persisted operations.",
            code="PERSISTED_QUERY_NOT_IN_LIST",
        )
