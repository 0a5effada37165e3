"""Resolvers called directly (app.graphql.resolvers `_direct`) answer exactly what
Strawberry's own chain does: the same arguments under their Python names, the same Info, the
same permission checks and field extensions, the same data and errors at the same paths;
and fields whose arguments need converting keep Strawberry's chain."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from app.graphql.executor import ParleyExecutionContext
from app.graphql.resolvers import direct_plain_fields, marks_of
from tests.app.test_executor import _schemas

SEEN: list[tuple[str, Any]] = []  # what permissions were handed, in order


@strawberry.enum
class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


class AtMostTen(BasePermission):
    """Sees the converted arguments, as Strawberry hands them to permissions."""

    message = "Too many asked for."

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        SEEN.append((info.field_name, sorted(kwargs)))
        return int(kwargs.get("first") or 0) <= 10


class Never(BasePermission):
    message = "Not for you."

    async def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


class Suffix(FieldExtension):
    """Rewrites the result: runs around the resolver."""

    async def resolve_async(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        value = await next_(source, info, **kwargs)
        return None if value is None else Tile(name=value.name + "+", shade=value.shade)


class Reshape(FieldExtension):
    """Reshapes the arguments: such a field keeps Strawberry's chain."""

    def map_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"count": kwargs["count"] * 2}

    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return next_(source, info, **kwargs)


@strawberry.input
class Filter:
    prefix: str


@strawberry.type
class Tile:
    name: str
    shade: Shade


def _tiles(first: int, prefix: str = "t") -> list[Tile]:
    return [Tile(name=f"{prefix}{n}", shade=Shade.LIGHT) for n in range(first)]


@strawberry.type
class Floor:
    level: int

    @strawberry.field
    async def tiles(
        self,
        first: int = 2,
        after: str | None = None,
        shade: Shade | None = None,
        dark_only: bool = False,
        scale: float = 1.0,
    ) -> list[Tile]:
        tiles = _tiles(first, prefix=after or "t")
        if shade is not None or dark_only:
            wanted = Shade.DARK if dark_only else shade
            tiles = [Tile(name=t.name, shade=wanted) for t in tiles]  # type: ignore[arg-type]
        return tiles[: max(0, int(len(tiles) * scale))]

    @strawberry.field
    async def tile(self, id: strawberry.ID) -> Tile | None:
        if id == "none":
            return None
        if id == "boom":
            raise ValueError(f"no tile {id} on {self.level}")
        if id == "wrong":
            return Floor(level=1)  # type: ignore[return-value] # graphql-core reports it
        return Tile(name=f"{id}@{self.level}", shade=Shade.DARK)

    @strawberry.field
    async def must(self, id: strawberry.ID) -> Tile:
        return None  # type: ignore[return-value] # a null in a non-null field

    @strawberry.field
    def named(self, details: strawberry.Info, tag: str = "x") -> str:
        """The Info under another name: Strawberry hands it among the arguments."""
        return f"{details.field_name}:{details.path.key}:{tag}:{self.level}"

    @strawberry.field
    def rooted(root: Floor, info: strawberry.Info, times: int = 1) -> str:
        return f"{info.field_name}:{root.level * times}"

    @strawberry.field
    async def from_parent(self, parent: strawberry.Parent[Floor], at_least: int = 0) -> int:
        return max(at_least, parent.level)

    @strawberry.field(permission_classes=[AtMostTen])
    async def guarded(self, first: int | None = None) -> list[Tile]:
        return _tiles(first or 0)

    @strawberry.field(permission_classes=[AtMostTen])
    def guarded_sync(self, first: int = 1) -> Tile | None:
        return Tile(name=f"sync{first}", shade=Shade.DARK)

    @strawberry.field(permission_classes=[Never])
    async def secret(self) -> Tile | None:
        return Tile(name="secret", shade=Shade.DARK)

    @strawberry.field(extensions=[PermissionExtension(permissions=[Never()], fail_silently=True)])
    async def quiet(self) -> Tile | None:
        return Tile(name="quiet", shade=Shade.DARK)

    @strawberry.field(extensions=[Suffix()])
    async def suffixed(self, name: str) -> Tile | None:
        return Tile(name=name, shade=Shade.LIGHT)

    # Kept on Strawberry's chain: arguments it converts, or reshapes.
    @strawberry.field
    async def filtered(self, filter: Filter) -> list[Tile]:
        return _tiles(2, prefix=filter.prefix)

    @strawberry.field
    async def listed(self, names: list[str]) -> list[Tile]:
        return [Tile(name=name, shade=Shade.LIGHT) for name in names]

    @strawberry.field
    def maybe(self, note: strawberry.Maybe[str] = None) -> str:
        return "unset" if note is None else f"some:{note.value}"

    @strawberry.field(extensions=[Reshape()])
    def reshaped(self, count: int) -> int:
        return count


@strawberry.type
class Query:
    @strawberry.field
    async def floor(self, level: int = 0) -> Floor:
        return Floor(level=level)

    @strawberry.field
    async def floors(self, levels: int = 2) -> list[Floor | None]:
        return [Floor(level=n) if n % 3 != 2 else None for n in range(levels)]


QUERIES: list[tuple[str, dict[str, Any] | None]] = [
    ("{ floor { level tiles { name shade } } }", None),
    ('{ floor(level: 3) { tiles(first: 3, after: "a", shade: DARK) { name shade } } }', None),
    (
        "query($n: Int, $s: Shade, $d: Boolean!, $x: Float) {"
        " floor { tiles(first: $n, shade: $s, darkOnly: $d, scale: $x) { name shade } } }",
        {"n": 4, "s": "LIGHT", "d": True, "x": 0.5},
    ),
    ("query($n: Int) { floor { tiles(first: $n) { name } } }", {}),  # the default applies
    (
        'query($id: ID!) { floor(level: 2) { a: tile(id: $id) { name } b: tile(id: "none") '
        '{ name } c: tile(id: "boom") { name } d: tile(id: "wrong") { name } } }',
        {"id": "x7"},
    ),
    ('{ floors(levels: 2) { level must(id: "m") { name } } }', None),
    ('{ floors(levels: 4) { level tile(id: "boom") { name } tiles(first: 1) { name } } }', None),
    ('{ floor(level: 5) { named named2: named(tag: "y") rooted(times: 3) } }', None),
    ("{ floor(level: 4) { fromParent fromParent2: fromParent(atLeast: 9) } }", None),
    ("{ floor { guarded(first: 3) { name } guardedSync(first: 4) { name } } }", None),
    ("{ floors { guarded(first: 11) { name } guardedSync(first: 12) { name } level } }", None),
    ("{ floor { secret { name } quiet { name } level } }", None),
    ('{ floor { suffixed(name: "s") { name shade } } }', None),
    (
        '{ floor { filtered(filter: { prefix: "f" }) { name } listed(names: ["p", "q"]) '
        "{ name } } }",
        None,
    ),
    ('{ floor { maybe m2: maybe(note: "n") reshaped(count: 4) } }', None),
]


@pytest.mark.parametrize(("query", "variables"), QUERIES)
async def test_direct_resolvers_answer_like_strawberry(
    query: str, variables: dict[str, Any] | None
) -> None:
    stock, fast = _schemas(Query)
    SEEN.clear()
    expected = await stock.execute(query, variable_values=variables)
    seen_by_stock = list(SEEN)
    SEEN.clear()
    got = await fast.execute(query, variable_values=variables)
    assert got.data == expected.data
    assert expected.data is not None  # every query here answers something
    assert [(e.message, e.path) for e in got.errors or []] == [
        (e.message, e.path) for e in expected.errors or []
    ]
    assert seen_by_stock == SEEN  # permissions saw the same fields and argument names


def test_which_resolvers_are_called_directly() -> None:
    _, fast = _schemas(Query)
    fields = fast._schema.type_map["Floor"].fields  # type: ignore[union-attr]
    kept = {
        name
        for name, field in fields.items()
        if field.resolve.__name__ in ("_resolver", "_async_resolver")  # Strawberry's wrappers
    }
    # An input object, a list, a Maybe (each converted by Strawberry) and an extension that
    # reshapes the arguments keep Strawberry's chain.
    assert kept == {"filtered", "listed", "maybe", "reshaped"}
    direct = {name for name, field in fields.items() if marks_of(field.resolve).direct}
    # Those returning an object type or a list of one are run by the executor.
    assert direct == {
        "tiles",
        "tile",
        "must",
        "guarded",
        "guardedSync",
        "secret",
        "quiet",
        "suffixed",
    }


async def test_a_direct_resolver_gets_converted_argument_values() -> None:
    """The values reach the resolver as Strawberry converts them: an enum member, not its
    name or value."""
    shades: list[Any] = []

    @strawberry.type
    class Probe:
        @strawberry.field
        def shade(self, shade: Shade | None = None, level: int = 1) -> str:
            shades.append((shade, level))
            return "ok"

    stock = strawberry.Schema(query=Probe)
    fast = strawberry.Schema(query=Probe, execution_context_class=ParleyExecutionContext)
    assert direct_plain_fields(fast) == 1
    query = "query($s: Shade) { a: shade(shade: DARK) b: shade(shade: $s, level: 2) c: shade }"
    for schema in (stock, fast):
        result = await schema.execute(query, variable_values={"s": "LIGHT"})
        assert result.errors is None
    assert shades[:3] == shades[3:]
    assert shades[3:] == [(Shade.DARK, 1), (Shade.LIGHT, 2), (None, 1)]
