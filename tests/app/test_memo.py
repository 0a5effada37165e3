"""IdentityMemo: found again by the same objects, never by others; least recently used
first out."""

from __future__ import annotations

from graphql import parse

from app.graphql.memo import IdentityMemo


def test_values_are_found_by_the_same_objects_and_key_only() -> None:
    memo: IdentityMemo[str] = IdentityMemo(8)
    document = parse("{ a }")
    memo.put((document,), "k", "answer")
    assert memo.get((document,), "k") == "answer"
    assert memo.get((document,), "other key") is None
    assert memo.get((parse("{ b }"),), "k") is None  # another object
    # A falsy value is a value, not a miss.
    memo.put((document,), "empty", "")
    assert memo.get((document,), "empty") == ""


def test_entries_keep_their_objects_and_the_least_recent_leaves_first() -> None:
    memo: IdentityMemo[int] = IdentityMemo(2)
    documents = [parse(f"{{ f{n} }}") for n in range(3)]
    memo.put((documents[0],), None, 0)
    memo.put((documents[1],), None, 1)
    assert memo.get((documents[0],), None) == 0  # now the most recent
    memo.put((documents[2],), None, 2)
    assert len(memo) == 2
    assert memo.get((documents[1],), None) is None  # pushed out
    assert memo.get((documents[0],), None) == 0
    assert memo.get((documents[2],), None) == 2
