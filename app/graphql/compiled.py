"""Selections of plain fields compiled to one Python function per object type and selection.

The executor (app/graphql/executor.py) runs a selection by walking its plan: for every
object, a loop over the steps, a dispatch on each step's kind, a call per child. For the
objects of a list that walk costs more than the reads themselves (about 6 us per document of
a synthetic 20-document page, against about 1.5 us for the reads). When every field of a
selection is plain (a leaf read from its object, a plain child object or list whose own
selection compiles, a loaded field, or `__typename`), the same reads are written out as the
source of one function, compiled once and kept for every later request with the same
selection. The executor asks for it only for the items of a list: for one object, looking
the function up costs about what it saves.

A compiled function only reads: attributes, the coercions graphql-core would apply, and the
values the request's loaders already hold. A String or ID value that is exactly a `str`, and
an Int value that is exactly an `int` within GraphQL's 32-bit range, is passed as it is
without calling the coercion, which would return it unchanged (a page's cursors, ids,
titles and positions). It records no error and builds no path. Whenever it meets anything
but the expected case (a null in a non-null field, a value that does not coerce, an object
that fails the type check, something not a list where a list belongs, a loaded value the
loader does not hold, any exception), it returns FALLBACK and the executor runs that object
again the ordinary way, which raises and locates the error exactly as before. Running it
again is safe because nothing before it had an effect. The source is built only from the
schema's attribute names (Python identifiers, checked) and fixed text: response names,
which come from the query, are passed in as constants, never written into the source.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any

from graphql.pyutils import Undefined, is_awaitable
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE

from app.graphql.loaders import NOT_LOADED, loaded_now
from app.graphql.resolvers import Child, Leaf, Loaded

FALLBACK: Any = object()  # "run this object the ordinary way"
_NO_INFO: Any = None  # what `is_type_of` gets here: Strawberry's never reads it (resolvers.py)

# A compiled selection: called with its object and the request's loaders (or None).
Compiled = Callable[[Any, Any], Any]

# What a step compiles from (its kinds: see `compile_selection`); equal steps compile to
# the same code, so a tuple of them is the cache's key.
Step = tuple[Any, ...]

_CACHE: dict[tuple[Step, ...], Compiled] = {}
_CACHE_SIZE = 512  # distinct selections below lists; an operation has a handful


def leaf(response_name: str, mark: Leaf) -> Step:
    """A plain scalar or enum field."""
    return ("leaf", response_name, mark)


def child(response_name: str, mark: Child, selection: Compiled) -> Step:
    """A plain object (or list of them) field whose own selection is compiled."""
    return ("child", response_name, mark, selection)


def loaded(response_name: str, mark: Loaded, of: Child, selection: Compiled) -> Step:
    """A loaded field (app.graphql.loaders.loaded) answered from the loader's value."""
    return ("loaded", response_name, mark, of, selection)


def typename(response_name: str, type_name: str) -> Step:
    """`__typename` of an object type: its name."""
    return ("typename", response_name, type_name)


def compile_selection(steps: tuple[Step, ...]) -> Compiled:
    """The function that answers these steps for one object (or FALLBACK), built on the
    first request that needs it and then shared by all."""
    known = _CACHE.get(steps)
    if known is not None:
        return known
    compiled = _build(steps)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()  # selections outnumber the bound only when queries vary wildly
    _CACHE[steps] = compiled
    return compiled


def is_instance(child: Child, value: Any) -> bool:
    """graphql-core's `is_type_of` check (Strawberry's ignores the resolve info). An object
    of exactly the type's class passes it without the call unless it was cast (Strawberry's
    check looks at the cast first, then accepts instances of the class)."""
    is_type_of = child.type.is_type_of
    if value.__class__ is child.origin:
        if is_type_of is None or getattr(value, TYPE_CAST_ATTRIBUTE, None) is None:
            return True
    elif is_type_of is None:
        # graphql-core checks nothing then, but it awaits an awaitable (a resolver's
        # coroutine) before completing it: leave those to its path.
        return not is_awaitable(value)
    return bool(is_type_of(value, _NO_INFO))


class _Source:
    """The lines of one function's source and the constants it refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"FALLBACK": FALLBACK, "Undefined": Undefined}

    def constant(self, value: Any) -> str:
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)


def _identifier(name: str) -> str:
    """`name`, checked to be an attribute name that can be written into the source."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"not an attribute name: {name!r}")
    return name


def _read(attribute: str) -> str:
    return f"source.{_identifier(attribute)}"


def _build(steps: tuple[Step, ...]) -> Compiled:
    code = _Source()
    code.line(0, "def compiled(source, loaders):")
    code.line(1, "try:")
    code.line(2, "result = {}")
    for step in steps:
        kind, response_name = step[0], step[1]
        key = code.constant(response_name)
        if kind == "typename":
            code.line(2, f"result[{key}] = {code.constant(step[2])}")
        elif kind == "leaf":
            _leaf(code, key, step[2])
        elif kind == "child":
            mark: Child = step[2]
            code.line(2, f"value = {_read(mark.attribute)}")
            _object(code, key, mark, step[3])
        else:
            _loaded(code, key, step[2], step[3], step[4])
    code.line(2, "return result")
    code.line(1, "except Exception:")
    code.line(2, "return FALLBACK")
    source = "\n".join(code.lines)
    namespace = dict(code.names)
    exec(source, namespace)  # noqa: S102 - trusted text only (module docstring)
    function: Compiled = namespace["compiled"]
    function.__doc__ = source  # what it runs, for whoever debugs it (`help(function)`)
    return function


# GraphQL's Int: 32-bit (graphql-core's serialize_int refuses anything outside)
_INT_RANGE = "-2147483648 <= value <= 2147483647"


def _leaf(code: _Source, key: str, mark: Leaf) -> None:
    code.line(2, f"value = {_read(mark.attribute)}")
    if mark.exact is not None:
        # A value of exactly the class the coercion returns unchanged: passed as it is.
        test = f"value.__class__ is {code.constant(mark.exact)}"
        if mark.exact is int:
            test += f" and {_INT_RANGE}"
        code.line(2, f"if {test}:")
        code.line(3, f"result[{key}] = value")
        code.line(2, "elif value is None:")
    else:
        code.line(2, "if value is None:")
    code.line(3, f"result[{key}] = None" if mark.nullable else "return FALLBACK")
    code.line(2, "else:")
    code.line(3, f"value = {code.constant(mark.coerce)}(value)")
    code.line(3, "if value is None:")
    code.line(4, "return FALLBACK")
    code.line(3, f"result[{key}] = value")


def _loaded(code: _Source, key: str, mark: Loaded, of: Child, selection: Compiled) -> None:
    """What the executor's `_held` answers, read here: the converted value the loader holds
    for the object's key (converted once per request, `loaded_now`), null for a null key the
    field allows; anything else (not held, converted to None) is the resolver's to decide."""
    code.line(2, f"value = {_read(mark.key)}")
    code.line(2, "if value is not None:")
    loader = f"loaders.{_identifier(mark.loader)}"
    convert = code.constant(mark.convert)
    now = code.constant(loaded_now)
    code.line(3, f"value = {now}({loader}, value, {convert}, loaders.converted)")
    code.line(3, f"if value is None or value is {code.constant(NOT_LOADED)}:")
    code.line(4, "return FALLBACK")
    _object(code, key, of, selection)


def _object(code: _Source, key: str, mark: Child, selection: Compiled) -> None:
    """`value` (an object, or a list of them) answered by `selection` into result[key]."""
    run = code.constant(selection)
    code.line(2, "if value is None:")
    code.line(3, f"result[{key}] = None" if mark.nullable else "return FALLBACK")
    if mark.item_nullable is None:
        code.line(2, f"elif {_unexpected(code, mark, 'value')}:")
        code.line(3, "return FALLBACK")
        code.line(2, "else:")
        code.line(3, f"value = {run}(value, loaders)")
        code.line(3, "if value is FALLBACK:")
        code.line(4, "return FALLBACK")
        code.line(3, f"result[{key}] = value")
        return
    code.line(2, "elif value.__class__ is not list and value.__class__ is not tuple:")
    code.line(3, "return FALLBACK")
    code.line(2, "else:")
    code.line(3, "items = []")
    code.line(3, "for item in value:")
    code.line(4, "if item is None:")
    if mark.item_nullable:
        code.line(5, "items.append(None)")
        code.line(5, "continue")
    else:
        code.line(5, "return FALLBACK")
    code.line(4, f"if {_unexpected(code, mark, 'item')}:")
    code.line(5, "return FALLBACK")
    code.line(4, f"item = {run}(item, loaders)")
    code.line(4, "if item is FALLBACK:")
    code.line(5, "return FALLBACK")
    code.line(4, "items.append(item)")
    code.line(3, f"result[{key}] = items")


def _unexpected(code: _Source, mark: Child, name: str) -> str:
    """The test that sends an object to the ordinary path: `is_instance` says no. An object
    of exactly the type's class that was not cast passes without the call."""
    exact = f"{name}.__class__ is {code.constant(mark.origin)}"
    if mark.type.is_type_of is not None:
        exact += f" and getattr({name}, {code.constant(TYPE_CAST_ATTRIBUTE)}, None) is None"
    check = f"{code.constant(is_instance)}({code.constant(mark)}, {name})"
    return f"not ({exact}) and not {check}"
