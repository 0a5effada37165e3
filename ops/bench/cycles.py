"""What keeps objects in reference cycles: the cycles among a list of garbage objects (as
`gc.DEBUG_SAVEALL` leaves them in `gc.garbage`), grouped by the types they are made of.

An object in a cycle is freed only by Python's cycle collector, and so is everything it
refers to. `ops/bench/graphql_path.py` uses this (PARLEY_BENCH_CYCLES=FILE) to say which
cycles a request leaves; `tests/app/test_request_garbage.py` checks there are none.
"""

from __future__ import annotations

import gc
from collections import Counter
from typing import Any


def cycles(garbage: list[Any]) -> list[list[Any]]:
    """The strongly connected components of `garbage` (references followed only between its
    own objects) that are cycles: two or more objects, or one referring to itself."""
    ids = {id(o): i for i, o in enumerate(garbage)}
    edges = [[ids[id(r)] for r in gc.get_referents(o) if id(r) in ids] for o in garbage]
    found: list[list[Any]] = []
    for component in _components(edges):
        if len(component) > 1 or component[0] in edges[component[0]]:
            found.append([garbage[i] for i in component])
    return found


def _components(edges: list[list[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components, iteratively (a request's garbage can be
    deeper than the recursion limit)."""
    index = [-1] * len(edges)
    low = [0] * len(edges)
    on_stack = [False] * len(edges)
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in range(len(edges)):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, next_edge = work.pop()
            if next_edge == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            descended = False
            for position in range(next_edge, len(edges[node])):
                target = edges[node][position]
                if index[target] == -1:
                    work.append((node, position + 1))
                    work.append((target, 0))
                    descended = True
                    break
                if on_stack[target]:
                    low[node] = min(low[node], index[target])
            if descended:
                continue
            if low[node] == index[node]:
                component: list[int] = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _label(o: Any) -> str:
    """A type name, with the function's or method's own name where that says more."""
    kind = type(o).__name__
    if kind in ("function", "method"):
        return f"{kind} {o.__qualname__}"
    return f"{type(o).__module__}.{type(o).__qualname__}"


def summary(garbage: list[Any], top: int = 20) -> list[str]:
    """One line per kind of cycle (the multiset of its members' types), most frequent first."""
    shapes = Counter(
        tuple(sorted(Counter(_label(o) for o in cycle).items())) for cycle in cycles(garbage)
    )
    lines = [f"{len(garbage)} objects in or held by cycles; {sum(shapes.values())} cycles"]
    for shape, n in shapes.most_common(top):
        members = ", ".join(f"{count} x {label}" for label, count in shape)
        lines.append(f"{n:6d} x [{members}]")
    return lines
