"""Validation is remembered per parsed document object, and answers what validating
afresh answers."""

from __future__ import annotations

from typing import Any, ClassVar

from graphql import ValidationRule, parse, specified_rules

from app.config import Settings
from app.graphql.schema import build_schema
from app.graphql.validation import validated

SCHEMA = build_schema(Settings(env="test"))._schema


class Counting(ValidationRule):
    """A rule that only counts the validations it takes part in."""

    runs: ClassVar[int] = 0

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        Counting.runs += 1


RULES = (*specified_rules, Counting)


def test_a_document_is_validated_once_and_its_errors_kept() -> None:
    good = parse("{ viewer { user { id } } }")
    bad = parse("{ viewer { nope } }")
    Counting.runs = 0
    for _ in range(3):
        assert validated(SCHEMA, good, RULES, 16) == []
        errors = validated(SCHEMA, bad, RULES, 16)
        assert len(errors) == 1
        assert "Cannot query field 'nope'" in errors[0].message
        errors.append(errors[0])  # the caller's list: the remembered one is untouched
    assert Counting.runs == 2  # once per document
    # Another document with the same text, or other rules, is validated again.
    assert validated(SCHEMA, parse("{ viewer { user { id } } }"), RULES, 16) == []
    assert validated(SCHEMA, good, (*specified_rules,), 16) == []
    assert Counting.runs == 3


def test_the_memory_is_bounded() -> None:
    Counting.runs = 0
    documents = [parse(f"{{ viewer {{ user {{ id a{n}: email }} }} }}") for n in range(3)]
    for document in documents:
        validated(SCHEMA, document, RULES, 2)
    validated(SCHEMA, documents[2], RULES, 2)  # kept
    validated(SCHEMA, documents[0], RULES, 2)  # pushed out, validated again
    assert Counting.runs == 4
