"""The widget's allowlist: the operations' own text, the same operations formatted otherwise,
or their hashes pass; anything else is refused."""

from __future__ import annotations

import pytest

from app.graphql.persisted import Allowlist, sha256
from app.graphql.transport import GraphQLRequest, RequestError
from app.widget.http import OPERATIONS


@pytest.fixture(scope="module")
def allowlist() -> Allowlist:
    return Allowlist(OPERATIONS, max_tokens=2_000)


def _request(query: str | None, digest: str | None = None) -> GraphQLRequest:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}} if digest else None
    return GraphQLRequest(query, None, None, extensions)


def test_the_files_text_reformatted_text_and_hashes_name_the_same_operation(
    allowlist: Allowlist,
) -> None:
    text = (OPERATIONS / "VisitorWidget.graphql").read_text()
    squeezed = " ".join(text.split()).replace(" {", "{")
    assert squeezed != text
    for query in (text, squeezed, "# a comment\n" + text + "\n,,"):
        assert allowlist.allows(query)
        assert allowlist.resolve(_request(query)).query == text
    assert allowlist.resolve(_request(None, sha256(text))).query == text
    assert allowlist.resolve(_request(squeezed, sha256(text))).query == text


def test_other_documents_and_mismatches_are_refused(allowlist: Allowlist) -> None:
    text = (OPERATIONS / "VisitorWidget.graphql").read_text()
    other = (OPERATIONS / "WidgetAsk.graphql").read_text()
    for query in ("{ viewer { email } }", text.replace("title", "title id"), "{ nope", ""):
        assert not allowlist.allows(query)
        with pytest.raises(RequestError):
            allowlist.resolve(_request(query))
    with pytest.raises(RequestError):  # a listed hash with another listed document
        allowlist.resolve(_request(other, sha256(text)))
