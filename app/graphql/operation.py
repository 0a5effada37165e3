"""Which kind of operation a request runs, known before it executes.

The read/write routing (replicas) and the metrics need it before Strawberry runs the document.
Parsing is bounded by the same token limit as the schema's, and documents up to a few KB are
cached, so this costs one dictionary look-up for the operations clients repeat.
"""

from __future__ import annotations

from functools import lru_cache

from graphql import GraphQLError, OperationDefinitionNode, parse

QUERY = "query"
MUTATION = "mutation"
SUBSCRIPTION = "subscription"
UNKNOWN = "unknown"
_CACHEABLE_CHARS = 8_192


@lru_cache(maxsize=512)
def _kinds(document: str, max_tokens: int) -> dict[str | None, str]:
    try:
        parsed = parse(document, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return {}
    kinds: dict[str | None, str] = {}
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    for definition in operations:
        name = definition.name.value if definition.name else None
        kinds[name] = definition.operation.value
    if len(operations) == 1:
        kinds[None] = operations[0].operation.value
    return kinds


def operation_kind(document: str | None, operation_name: str | None, max_tokens: int) -> str:
    """ "query", "mutation", "subscription", or "unknown" when the document does not parse or
    does not name that operation (Strawberry then reports the precise error)."""
    if not document:
        return UNKNOWN
    if len(document) > _CACHEABLE_CHARS:
        return _kinds.__wrapped__(document, max_tokens).get(operation_name, UNKNOWN)
    return _kinds(document, max_tokens).get(operation_name, UNKNOWN)
