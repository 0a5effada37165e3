"""Schema-driven fuzzing: thousands of query and mutation documents generated from the live
schema by hypothesis-graphql, sent over HTTP as a workspace's owner and as a plain member.
Whatever arrives, the server answers with a status below 500, with no traceback or source path
in the body, and with an `extensions.code` on every error that is never INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import graphql
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, queries
from hypothesis_graphql._strategies.mode import Mode

from tests.hostile.schema_walk import live_schema
from tests.hostile.verdict import judge
from tests.support.ai import Stack

# Well-formed documents are slow to generate (tens of ms each, deep selections); documents
# with one schema violation are cheap and exercise the refusal paths.
VALID_QUERIES = 250
VALID_MUTATIONS = 250
INVALID_QUERIES = 1_000
INVALID_MUTATIONS = 1_000
CONCURRENCY = 4
# Ending the fuzzing client's own session would turn the rest into UNAUTHENTICATED noise.
SKIPPED_MUTATIONS = {"logOut"}
# Custom scalars that appear in inputs: plausible and implausible literals alike.
SCALARS = {
    "Upload": st.text(max_size=30).map(lambda v: graphql.StringValueNode(value=v)),
}


def generate(strategy: st.SearchStrategy[str], count: int) -> list[str]:
    """`count` documents drawn deterministically (derandomized: CI sees the same ones)."""
    drawn: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(document: str) -> None:
        drawn.append(document)

    draw()
    return drawn


async def test_generated_documents_never_break_the_server(hostile: Stack) -> None:
    started = time.monotonic()
    tenant = await hostile.factory.tenant("Fuzzed")
    _, member = await hostile.factory.member(tenant, "MEMBER")
    schema = await live_schema(tenant.gql)
    mutation_fields = [f for f in schema.mutation_type.fields if f not in SKIPPED_MUTATIONS]  # type: ignore[union-attr]
    documents = generate(queries(schema, custom_scalars=SCALARS), VALID_QUERIES)
    documents += generate(
        queries(schema, custom_scalars=SCALARS, mode=Mode.NEGATIVE), INVALID_QUERIES
    )
    documents += generate(
        mutations(schema, fields=mutation_fields, custom_scalars=SCALARS), VALID_MUTATIONS
    )
    documents += generate(
        mutations(schema, fields=mutation_fields, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
        INVALID_MUTATIONS,
    )
    generated_s = time.monotonic() - started

    outcomes: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    clients = (tenant.gql, member)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def send(index: int, document: str) -> None:
        async with gate:
            result = await clients[index % 2].query(document)
        text = orjson.dumps(result.body).decode()
        errors = result.body.get("errors") or []
        problems = list(judge(result, text, "", allowed=_ANY_CODE).problems)
        problems += ["error without extensions.code" for e in errors if not _code(e)]
        statuses[result.status] += 1
        for error in errors:
            outcomes[_code(error) or "none"] += 1
        if not errors:
            outcomes["ok"] += 1
        if problems:
            failures.append(f"{problems}: {document} -> {text[:500]}")

    await asyncio.gather(*(send(i, d) for i, d in enumerate(documents)))
    # Accepted mutations queued jobs (answers, ingestion) in the session's shared Redis: run
    # them here, so no other test's workers inherit them.
    await hostile.drain(limit_s=120)
    elapsed = time.monotonic() - started
    print(
        f"\nfuzz: {len(documents)} documents ({len(set(documents))} distinct) generated in "
        f"{generated_s:.1f} s, generated and sent in {elapsed:.1f} s\nstatuses: {dict(statuses)}\n"
        f"outcomes: {dict(outcomes.most_common())}"
    )
    assert not failures, "\n".join(failures[:10])
    assert len(documents) >= 2_500
    # Both well-formed and malformed documents were judged, not just refused at the door.
    assert outcomes["ok"] > 0 and outcomes["GRAPHQL_VALIDATION_FAILED"] > 0


class _AnyCode(set[str]):
    """Every code counts as clean except the one for bugs (checked in `judge`)."""

    def __contains__(self, code: object) -> bool:
        return code not in ("INTERNAL_SERVER_ERROR", "None")


_ANY_CODE = _AnyCode()


def _code(error: dict[str, object]) -> str | None:
    extensions = error.get("extensions")
    return (
        str(extensions.get("code"))
        if isinstance(extensions, dict) and extensions.get("code")
        else None
    )
