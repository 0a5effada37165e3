"""Plain fields read straight from their object, and resolvers called directly.

Strawberry resolves a field without a resolver through two Python calls (a wrapper, then
`StrawberryField.get_result`, then `getattr`). A page of 20 documents has over a hundred such
fields, so after the schema is built each of them gets a resolver that does only the
`getattr`; those whose type is a scalar or an enum are marked as leaves, which the
executor reads without calling anything (app/graphql/executor.py), and those whose type is an
object type or a list of one are marked as children, whose selections the executor runs
directly (no resolve-info, no value completion walk).

A field with a resolver goes through Strawberry's wrapper chain on every call: a coroutine
wrapping the call, the Info, `get_arguments` converting each argument by walking its type,
the field extensions (permission classes are one) chained anew, the resolver's own wrapper.
When every argument is of a type whose conversion returns the value as graphql-core coerced
it (a built-in scalar, `ID` or an enum, nullable or not: not an input object, a list or a
`Maybe`) and no field extension reshapes the arguments, the resolver gets a replacement that
does the same work directly: it renames the arguments to their Python names, builds the
same Info, hands the source and the Info to the parameters that ask for them as Strawberry
does, and runs the same field extensions (built once by Strawberry's own
`build_field_extension_resolvers`, chained in Strawberry's order). The dashboard's
`document(id)`, `documents(first, after, status)`, `Document.chunks(first, after)` and most
mutations are such fields; those taking input objects or lists keep Strawberry's chain. When such a
resolver returns an object type (or a list of one), it is marked `direct`: the executor
calls it with the field's arguments and runs the object's selection itself, as it does for
plain children, once the result (or its awaitable) is in.

All resolvers keep Strawberry's chain when the schema has exception handlers, and so does
everything if the schema uses another default resolver than `getattr`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from enum import Enum
from functools import partial, reduce
from typing import Any, NamedTuple

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
    get_nullable_type,
    is_non_null_type,
)
from strawberry.extensions.field_extension import FieldExtension, build_field_extension_resolvers
from strawberry.types.base import StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField

_STRAWBERRY = "strawberry-definition"
_BASIC = "_get_basic_result"  # the name Strawberry gives its resolver of plain fields
# ... and its wrappers of a synchronous and an asynchronous resolver
_WRAPPERS = ("_resolver", "_async_resolver")
# Argument types whose conversion (strawberry.types.arguments.convert_argument) returns the
# value as graphql-core coerced it; enums are recognised by their definition.
_AS_COERCED: frozenset[Any] = frozenset({str, int, float, bool, strawberry.ID})


def _attribute(name: str, field: GraphQLField) -> Callable[..., Any]:
    def resolve(source: Any, _info: Any, **_args: Any) -> Any:
        return getattr(source, name)

    resolve._is_default = True  # type: ignore[attr-defined] # tracing skips it, as Strawberry's
    named = get_nullable_type(field.type)
    leaf = None
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        # A scalar or enum (not a list of them): app.graphql.executor reads it inline.
        leaf = Leaf(name, _coerce(named), not is_non_null_type(field.type), _EXACT.get(named))
    resolve.marks = Marks(leaf, _child(name, field.type), None)  # type: ignore[attr-defined]
    return resolve


# graphql-core's own scalars whose output coercion returns a value of exactly this class
# unchanged (an int only inside GraphQL's 32-bit range: app.graphql.compiled checks it).
_EXACT: dict[GraphQLScalarType | GraphQLEnumType, builtins.type[Any]] = {
    GraphQLString: str,
    GraphQLID: str,
    GraphQLInt: int,
}


def _coerce(named: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any]:
    """How a leaf's value becomes output. For a Strawberry enum, a lookup of the member's
    name: its `coerce_output_value` scans the type's values comparing `.value`s (seven
    Python calls per field); anything not a member raises KeyError here, and the executor
    then takes graphql-core's path, which coerces it the usual way."""
    wrapped = getattr(named, "wrapped_cls", None)
    if not (isinstance(named, GraphQLEnumType) and isinstance(wrapped, type)):
        return named.coerce_output_value
    if not issubclass(wrapped, Enum):
        return named.coerce_output_value
    names: dict[Any, str] = {}
    for member in wrapped:
        for name, value in named.values.items():
            if member.value == value.value:  # the first match, as Strawberry's scan
                names[member] = name
                break
    return names.__getitem__


def _child(name: str, type_: GraphQLOutputType) -> Child | None:
    """The Child mark of a plain field typed as an object type or a list of one."""
    nullable = not is_non_null_type(type_)
    named = get_nullable_type(type_)
    item_nullable: bool | None = None
    if isinstance(named, GraphQLList):
        item_nullable = not is_non_null_type(named.of_type)
        named = get_nullable_type(named.of_type)
    if not isinstance(named, GraphQLObjectType):
        return None  # scalars, lists of lists, interfaces and unions: graphql-core's path
    definition = (named.extensions or {}).get(_STRAWBERRY)
    if definition is None or getattr(definition, "is_type_of", None) is not None:
        # Strawberry's own type check ignores the resolve info (there is none on this
        # path); a type-defined one might not.
        return None
    origin = definition.origin
    generic = getattr(definition, "concrete_of", None)
    if named.is_type_of is None and generic is not None:
        # A generic type's specialization (`Edge[Document]`) is a subclass Strawberry made;
        # the objects are instances of the generic class (`Edge`). graphql-core checks no
        # type here, so passing those at the class check answers what it answers.
        origin = generic.origin
    return Child(name, named, type_, nullable, item_nullable, origin)


def direct_plain_fields(schema: strawberry.Schema) -> int:
    """Give every plain field of `schema` a direct attribute resolver, and every resolver
    whose arguments need no conversion a direct call; returns how many fields changed."""
    if schema.config.default_resolver is not getattr:
        return 0
    # Exception handlers wrap Strawberry's resolvers; a direct call would bypass them.
    handlers = getattr(schema.schema_converter, "_exception_handler_specs", None)
    replaced = 0
    for named in schema._schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            definition = (field.extensions or {}).get(_STRAWBERRY)
            if not isinstance(definition, StrawberryField):
                continue
            name = getattr(field.resolve, "__name__", None)
            if definition.is_basic_field and name == _BASIC:
                field.resolve = _attribute(definition.python_name, field)
                replaced += 1
            elif name in _WRAPPERS and not handlers and _callable_directly(definition):
                field.resolve = _direct(definition, field, schema.config)
                replaced += 1
    return replaced


def _callable_directly(definition: StrawberryField) -> bool:
    """A resolver whose arguments Strawberry would pass on as graphql-core coerced them
    (renamed), and whose field extensions, if any, do not reshape them."""
    resolver = definition.base_resolver
    if resolver is None or not callable(resolver.wrapped_func):
        return False
    for extension in definition.extensions:
        if type(extension).map_arguments is not FieldExtension.map_arguments:
            return False
    return all(_as_coerced(argument.type) for argument in definition.arguments)


def _as_coerced(type_: Any) -> bool:
    """Whether Strawberry's conversion of an argument of this type is the value itself."""
    if type(type_) is StrawberryOptional:  # exactly: a Maybe is converted to Some(value)
        type_ = type_.of_type
    return isinstance(type_, StrawberryEnumDefinition) or type_ in _AS_COERCED


def _direct(definition: StrawberryField, field: GraphQLField, config: Any) -> Callable[..., Any]:
    """The resolver called as Strawberry's chain would call it (strawberry.schema.
    schema_converter: `get_arguments`, then the field extensions, then the resolver), without
    the chain's per-call work. When it returns an object type or a list of one, it is
    marked `direct` with that Child (its `attribute` unused): the executor calls it and runs
    the object's selection itself."""
    resolver = definition.base_resolver
    assert resolver is not None
    call: Callable[..., Any] = resolver.wrapped_func  # type: ignore[assignment] # checked callable
    info_class = config.info_class
    names = tuple(
        (config.name_converter.from_argument(argument), argument.python_name)
        for argument in definition.arguments
    )
    wants_self = resolver.self_parameter is not None
    sources = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    # Strawberry hands a parameter named `info` to the extensions apart from the other
    # arguments, and any other name for it among them.
    apart = info_name == "info"
    extensions = build_field_extension_resolvers(definition)
    needs_info = info_name is not None or bool(extensions)

    def run(source: Any, info: Any, **kwargs: Any) -> Any:
        if apart:
            kwargs["info"] = info
        return call(source, **kwargs) if wants_self else call(**kwargs)

    # The last extension outermost, as Strawberry chains them.
    chain = reduce(lambda inner, outer: partial(outer, inner), extensions, run)

    def resolve(source: Any, info: Any, **args: Any) -> Any:
        kwargs = {python: args[name] for name, python in names if name in args}
        for name in sources:
            kwargs[name] = source
        if needs_info:
            info = info_class(_raw_info=info, _field=definition)
            if info_name is not None and not apart:
                kwargs[info_name] = info
        return chain(source, info, **kwargs)

    child = _child(definition.python_name, field.type)
    if child is not None:
        spec = getattr(call, "loaded", None)
        loaded = spec if isinstance(spec, Loaded) else None
        resolve.marks = Marks(None, None, child, loaded)  # type: ignore[attr-defined]
    return resolve


class Leaf(NamedTuple):
    """How app.graphql.executor reads a plain scalar or enum field."""

    attribute: str
    coerce: Callable[[Any], Any]
    nullable: bool
    # A class whose instances `coerce` returns unchanged (see _EXACT), or None: compiled
    # selections pass such values through without the call.
    exact: builtins.type[Any] | None = None


class Child(NamedTuple):
    """How app.graphql.executor runs a plain field typed as an object type or a list."""

    attribute: str
    type: GraphQLObjectType  # the object type (of the items, for a list)
    field_type: GraphQLOutputType  # the field's whole type, wrappers included
    nullable: bool
    item_nullable: bool | None  # None: not a list
    # the type's class (a generic type's own, for its specialization without a type check):
    # its exact instances pass the type check
    origin: builtins.type[Any]


class Loaded(NamedTuple):
    """What a resolver made by `app.graphql.loaders.loaded` answers: `convert` of the value
    the request's loader `loader` holds for the object's `key` attribute."""

    loader: str  # the attribute of the request's Loaders
    key: str
    convert: Callable[[Any], Any]


class Marks(NamedTuple):
    """How app.graphql.executor may run a field without graphql-core's per-field path."""

    leaf: Leaf | None  # a plain scalar or enum, read inline
    child: Child | None  # a plain object or list of them, its selection run inline
    direct: Child | None  # a resolver returning such objects (`attribute` unused)
    # ... and what it loads when it is a loaded field: read from the loader when it already
    # holds the value, without calling it
    loaded: Loaded | None = None


_UNMARKED = Marks(None, None, None)


def marks_of(resolve: Any) -> Marks:
    """The marks `direct_plain_fields` gave a resolver (none for any other resolver)."""
    return getattr(resolve, "marks", _UNMARKED)
