"""selects(): whether an operation asks for a field below the one being resolved."""

from __future__ import annotations

import pytest
import strawberry
from strawberry.extensions import ParserCache

from app.graphql.lookahead import selects


@strawberry.type
class Leaf:
    name: str = "leaf"


@strawberry.type
class Middle:
    leaf: Leaf = strawberry.field(default_factory=Leaf)
    other: str = "other"


seen: list[bool] = []


@strawberry.type
class Query:
    @strawberry.field
    def top(self, info: strawberry.Info) -> Middle:
        seen.append(selects(info, "leaf", "name"))
        return Middle()


CASES = [
    ("{ top { leaf { name } } }", True),
    ("{ top { other } }", False),
    ("{ top { leaf { __typename } } }", False),
    ("{ top { l: leaf { n: name } } }", True),  # aliases do not hide the field
    ("{ top { ... on Middle { leaf { ... on Leaf { name } } } } }", True),
    ("{ top { ...M } } fragment M on Middle { leaf { ...L } } fragment L on Leaf { name }", True),
    ("{ top { ...M } } fragment M on Middle { other }", False),
    ("{ top { leaf { name @skip(if: true) } } }", True),  # asked for, if not answered
]


@pytest.mark.parametrize(("query", "expected"), CASES)
async def test_selects_follows_fields_and_fragments(query: str, expected: bool) -> None:
    # The parser cache hands back the same document, so the second answer is the memo's.
    schema = strawberry.Schema(query=Query, extensions=[ParserCache])
    seen.clear()
    for _ in range(2):
        result = await schema.execute(query)
        assert result.errors is None
    assert seen == [expected, expected]
