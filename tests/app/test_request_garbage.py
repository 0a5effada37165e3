"""A request's objects are freed by reference counting as soon as it is answered, not left in
reference cycles for Python's cycle collector: under load the collector's pauses, spent on
every request's executor, context, loaders and rows, were a tenth of the API's time and its
longest stalls (docs/BENCHMARKS.md, tenth pass)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.ai import Stack
from tests.support.factories import make_widget
from tests.support.graphql import Result
from tests.support.knowledge import add_document

GUIDE = "# Hours\n\nWe open at nine.\n\n## Weekends\n\nSaturdays from ten to four."

# Code whose objects a request creates. The test client (httpx) keeps a cycle of its own
# per response, so garbage is judged by where its objects come from.
SERVER_MODULES = ("app.", "tenancy.", "billing.", "graphql.", "strawberry.", "litestar.",
                  "sqlalchemy.", "asyncpg.")  # fmt: skip


@contextmanager
def cyclic_garbage() -> Iterator[list[object]]:
    """The objects that only the cycle collector could free, of what the block does."""
    garbage: list[object] = []
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield garbage
        gc.collect()
    finally:
        gc.set_debug(0)
        gc.enable()
        garbage.extend(gc.garbage)
        gc.garbage.clear()


def server_kinds(garbage: list[object], modules: tuple[str, ...] = SERVER_MODULES) -> list[str]:
    """Types of the garbage's objects that server code (`modules`) made."""
    kinds = {f"{type(o).__module__}.{type(o).__qualname__}" for o in garbage}
    return sorted(kind for kind in kinds if kind.startswith(modules))


async def test_dashboard_operations_leave_nothing_for_the_cycle_collector(
    extractive: Stack,
) -> None:
    tenant = await extractive.factory.tenant()
    doc = await add_document(tenant, GUIDE)
    await extractive.drain()

    async def dashboard() -> list[Result]:
        return [
            await tenant.gql.op("DocumentPage"),  # a page, its authors primed in a loader
            await tenant.gql.op("DocumentWithChunks", {"id": doc["id"]}),  # the chunk loader
            await tenant.gql.op("RenameDocument", {"id": doc["id"], "title": "Opening hours"}),
            await tenant.gql.query("{ nope }"),  # refused by validation
        ]

    await dashboard()  # caches fill and plans compile outside the count
    with cyclic_garbage() as garbage:
        page, one, renamed, refused = await dashboard()
    # The operations ran through loaders, an update and a refusal.
    assert page.data["documents"]["edges"][0]["node"]["addedBy"]["displayName"] == "Owner"
    assert one.data["document"]["chunks"]["edges"]
    assert renamed.data["renameDocument"]["title"] == "Opening hours"
    assert refused.body["errors"]
    assert server_kinds(garbage) == []


async def test_widget_and_orm_requests_leave_nothing_for_the_cycle_collector(
    extractive: Stack,
) -> None:
    widget = await make_widget(extractive.factory)
    await add_document(widget.tenant, GUIDE)
    await extractive.drain()

    async def visit(n: int) -> list[Result]:
        session = await widget.session()
        visitor = widget.visitor(str(session["visitorToken"]))
        return [
            await visitor.op("VisitorWidget"),
            await visitor.op("WidgetAsk", {"input": {"question": "When do you open?"}}),
            await widget.tenant.gql.op("RenameWorkspace", {"name": f"Shop {n}"}),  # the ORM
        ]

    await visit(1)
    with cyclic_garbage() as garbage:
        config, asked, renamed = await visit(2)
    await extractive.drain()  # the questions' answer jobs, not left for another test's workers
    assert config.data["visitorWidget"]["title"]
    assert asked.data["ask"]["answer"]["status"]
    assert renamed.data["renameWorkspace"]["name"] == "Shop 2"
    # SQLAlchemy's own: an expression built on a bound parameter (the conversation's
    # `message_count + 1`) memoises a comparator that points back at it, five small cycles
    # per question. Left: they hold a few values, not the request.
    parley_and_graphql = tuple(m for m in SERVER_MODULES if m != "sqlalchemy.")
    assert server_kinds(garbage, parley_and_graphql) == []


def test_the_probe_sees_a_cycle() -> None:
    """The check above can fail: a cycle made inside the block is reported."""

    class Node:
        pass

    Node.__module__ = "app.example"
    with cyclic_garbage() as garbage:
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        del a, b
    assert server_kinds(garbage) == ["app.example.test_the_probe_sees_a_cycle.<locals>.Node"]
