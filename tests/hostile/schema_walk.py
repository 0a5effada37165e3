"""Operations generated from the live schema (read by introspection): selections that reach
every field they can, and the argument slots where an ID or a cursor can be planted.

Nothing here knows Parley's fields by name: a new field with an ID argument or a new
connection is probed as soon as it is in the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_client_schema,
    get_introspection_query,
    get_named_type,
    is_required_argument,
    is_required_input_field,
)

from tests.support.graphql import GraphQL

# Values for required arguments that are not under test. Keys are "Type.field" (input object
# fields and root-field arguments); anything else gets a type-based default.
Overrides = dict[str, Any]


async def live_schema(client: GraphQL) -> GraphQLSchema:
    """The schema as the server describes it to an authenticated client."""
    result = await client.query(get_introspection_query(descriptions=False))
    return build_client_schema(result.data)


def _unwrap(type_: Any) -> Any:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def is_connection(field: GraphQLField) -> bool:
    """A Relay connection: returns *Connection and takes `after`."""
    return get_named_type(field.type).name.endswith("Connection") and "after" in field.args


def selection(type_: GraphQLOutputType, depth: int, page: int = 5) -> str:
    """A selection of everything reachable from `type_` within `depth` levels: scalars, objects
    whose arguments are all optional, connections (first `page` items), and each member of an
    interface or union."""
    named = get_named_type(type_)
    if isinstance(named, (GraphQLScalarType, GraphQLEnumType)):
        return ""
    if depth <= 0:
        return "{ __typename }"
    parts = ["__typename"]
    if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
        for name, field in named.fields.items():
            if any(is_required_argument(a) for a in field.args.values()):
                continue
            inner = get_named_type(field.type)
            args = f"(first: {page})" if "first" in field.args else ""
            if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
                parts.append(name + args)
            else:
                parts.append(f"{name}{args} {selection(field.type, depth - 1, page)}")
    if isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)):
        members: Any = named.types if isinstance(named, GraphQLUnionType) else ()
        for member in members:
            parts.append(f"... on {member.name} {selection(member, depth - 1, page)}")
    return "{ " + " ".join(parts) + " }"


def interface_selection(schema: GraphQLSchema, type_: GraphQLOutputType, depth: int) -> str:
    """Like `selection`, adding a fragment per implementation when `type_` is an interface.
    Fields in the fragments are aliased by type: implementations may type a field differently
    (`name: String!` here, `name: String` there), which one selection cannot merge."""
    named = get_named_type(type_)
    if not isinstance(named, GraphQLInterfaceType):
        return selection(type_, depth)
    fragments = []
    for implementation in schema.get_implementations(named).objects:
        inner = selection(implementation, depth - 1)[2:-2].split(" ")
        # Alias the top-level names only: nested selections sit under their aliased parent.
        aliased, level = [], 0
        for token in inner:
            name = token.split("(")[0]
            if level == 0 and name.isidentifier():
                aliased.append(f"{implementation.name}_{name}: {token}")
            else:
                aliased.append(token)
            level += token.count("{") - token.count("}")
        fragments.append(f"... on {implementation.name} {{ {' '.join(aliased)} }}")
    return "{ __typename id " + " ".join(fragments) + " }"


@dataclass(frozen=True)
class Slot:
    """Where a probe value goes: a root argument, or a field inside an input object argument."""

    argument: str
    path: tuple[str, ...]  # input-object fields below the argument; () for the argument itself
    kind: str  # "id" or "cursor"
    many: bool = False  # typed [ID]: the value is sent as a one-item list

    @property
    def label(self) -> str:
        """Like `input.conversationId`."""
        return ".".join((self.argument, *self.path))


def id_slots(field: GraphQLField) -> list[Slot]:
    """Every argument (or input-object field, one level of nesting or more) typed ID or [ID]."""
    found: list[Slot] = []

    def walk(arg: str, path: tuple[str, ...], type_: GraphQLInputType, seen: set[str]) -> None:
        named = _unwrap(type_)
        if isinstance(named, GraphQLScalarType) and named.name == "ID":
            found.append(Slot(arg, path, "id", isinstance(_strip(type_), GraphQLList)))
        elif isinstance(named, GraphQLInputObjectType) and named.name not in seen:
            for name, inner in named.fields.items():
                walk(arg, (*path, name), inner.type, seen | {named.name})

    for name, argument in field.args.items():
        walk(name, (), argument.type, set())
    if is_connection(field):
        found.append(Slot("after", (), "cursor"))
    return found


def _default(type_: GraphQLInputType, key: str, overrides: Overrides) -> Any:
    """A plausible value for a required input (so the probe gets past everything but the id)."""
    if key in overrides:
        value = overrides[key]
        return value() if callable(value) else value
    if isinstance(type_, GraphQLNonNull):
        return _default(type_.of_type, key, overrides)
    if isinstance(type_, GraphQLList):
        return [_default(type_.of_type, key, overrides)]
    named: GraphQLNamedType = type_  # type: ignore[assignment]
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    if isinstance(named, GraphQLInputObjectType):
        return {
            name: _default(inner.type, f"{named.name}.{name}", overrides)
            for name, inner in named.fields.items()
            if is_required_input_field(inner)
        }
    return {
        "Int": 1,
        "Float": 1.0,
        "Boolean": False,
        "BigInt": 1,
        "JSON": {},
        "Date": "2026-01-01",
        "DateTime": "2026-01-01T00:00:00Z",
    }.get(named.name, "https://probe.example.com")


@dataclass(frozen=True)
class Probe:
    """A generated operation for one root field and one slot."""

    root: str  # "query" or "mutation"
    field: str
    slot: Slot
    document: str
    base_variables: dict[str, Any]

    @property
    def label(self) -> str:
        """Like `mutation ask(input.conversationId)`."""
        return f"{self.root} {self.field}({self.slot.label})"

    def variables(self, value: str, overrides: Overrides) -> dict[str, Any]:
        """The variables with `value` planted in the slot (and fresh values where asked)."""
        variables = _fresh(self.base_variables, overrides)
        planted: Any = [value] if self.slot.many else value
        if not self.slot.path:
            variables[self.slot.argument] = planted
            return variables
        target = variables.setdefault(self.slot.argument, {})
        for name in self.slot.path[:-1]:
            target = target.setdefault(name, {})
        target[self.slot.path[-1]] = planted
        return variables


_FRESH = "__fresh__"


def _fresh(value: Any, overrides: Overrides) -> Any:
    """Copy the variables, calling the providers of values that must be new every time."""
    if isinstance(value, dict):
        if _FRESH in value:
            return overrides[value[_FRESH]]()
        return {k: _fresh(v, overrides) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v, overrides) for v in value]
    return value


def _base_argument(type_: GraphQLInputType, key: str, overrides: Overrides) -> Any:
    """The value of a required argument, with markers where a fresh value is needed per call."""
    if key in overrides:
        return {_FRESH: key} if callable(overrides[key]) else overrides[key]
    named = _unwrap(type_)
    if isinstance(named, GraphQLInputObjectType):
        value = {
            name: _base_argument(inner.type, f"{named.name}.{name}", overrides)
            for name, inner in named.fields.items()
            if is_required_input_field(inner) or f"{named.name}.{name}" in overrides
        }
        return [value] if isinstance(_strip(type_), GraphQLList) else value
    return _default(type_, key, overrides)


def _strip(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def probes(schema: GraphQLSchema, overrides: Overrides, depth: int = 3) -> list[Probe]:
    """One operation per (root field, ID-or-cursor slot) of queries and mutations."""
    out: list[Probe] = []
    for root, type_ in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        if type_ is None:
            continue
        for name, field in type_.fields.items():
            slots = id_slots(field)
            if not slots:
                continue
            declared = ", ".join(f"${a}: {arg.type!s}" for a, arg in field.args.items())
            passed = ", ".join(f"{a}: ${a}" for a in field.args)
            head = f"{root} Probe" + (f"({declared})" if declared else "")
            call = name + (f"({passed})" if passed else "")
            document = f"{head} {{ {call} {interface_selection(schema, field.type, depth)} }}"
            base = {
                a: _base_argument(arg.type, f"{name}.{a}", overrides)
                for a, arg in field.args.items()
                if is_required_argument(arg) or f"{name}.{a}" in overrides
            }
            for slot in slots:
                out.append(Probe(root, name, slot, document, base))
    return out


@dataclass(frozen=True)
class NestedConnection:
    """A connection one level below a query field: `workspace { members(after: $after) }`.
    The root field's required arguments are ids (`conversation(id:)`): the caller fills them
    with ids of its own, so the only foreign value is the cursor."""

    path: str  # like "conversation.messages"
    root_ids: tuple[str, ...]  # required ID arguments of the root field
    document: str
    base_variables: dict[str, Any]


def nested_connections(
    schema: GraphQLSchema, overrides: Overrides, depth: int = 3
) -> list[NestedConnection]:
    """Every connection below a query field whose required arguments are all ids."""
    found: list[NestedConnection] = []
    query = schema.query_type
    assert query is not None
    for root_name, root_field in query.fields.items():
        required = [a for a, arg in root_field.args.items() if is_required_argument(arg)]
        if any(_unwrap(root_field.args[a].type).name != "ID" for a in required):
            continue
        owner = get_named_type(root_field.type)
        if not isinstance(owner, GraphQLObjectType):
            continue
        for name, field in owner.fields.items():
            if not is_connection(field):
                continue
            inner = [
                (a, arg)
                for a, arg in field.args.items()
                if a == "after" or is_required_argument(arg)
            ]
            declared = [f"${a}: ID!" for a in required] + [
                f"${name}_{a}: {arg.type!s}" for a, arg in inner
            ]
            root_call = root_name + (
                "(" + ", ".join(f"{a}: ${a}" for a in required) + ")" if required else ""
            )
            call = f"{name}(" + ", ".join(f"{a}: ${name}_{a}" for a, _ in inner) + ")"
            document = (
                f"query Probe({', '.join(declared)}) {{ {root_call} {{ "
                f"{call} {selection(field.type, depth)} }} }}"
            )
            base = {
                f"{name}_{a}": _default(arg.type, f"{owner.name}.{name}.{a}", overrides)
                for a, arg in inner
                if a != "after"
            }
            found.append(NestedConnection(f"{root_name}.{name}", tuple(required), document, base))
    return found
