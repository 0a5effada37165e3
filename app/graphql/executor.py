"""Field execution with a short path for plain leaves.

graphql-core runs every field through the same machinery: a resolve-info object, the
resolver, an awaitable check, then `complete_value`'s walk down the type. For a leaf read
straight from its object (`title`, `createdAt`, an enum) that machinery costs several times
the read itself, and a page of 20 documents has over a hundred such fields. This executor
reads those leaves inline: the attribute, then the type's own `coerce_output_value`, the
function graphql-core would call; a null in a nullable field is null. Everything else
(resolvers, objects, lists, `__typename`, a null in a non-null field, a value that does not
coerce) takes graphql-core's path unchanged, so
errors are raised and located exactly as before: on any surprise the field is simply
executed again the ordinary way, which is safe because a plain leaf's "resolver" is a
`getattr` with no side effects.

Plain fields typed as an object type or a list of one (`edges`, `node`, `pageInfo`) take a
short path too: the attribute is read and the object's selection executed directly, without
the resolve-info, the resolver call and `complete_value`'s walk down the wrapping types. An
error inside such an object is handled as graphql-core handles it (located at the same path,
nulling the nearest nullable field); a value the short path does not expect (a null where
the type forbids one, something not a list, an object of another type) is left to the
ordinary path before anything has run, which then raises the same error it always did.

A resolver returning an object type or a list of one that `app.graphql.resolvers` marks
`direct` (`document(id)`, `Document.chunks`, `Document.addedBy`) is called here with the
resolve info and the arguments graphql-core would build, and an object of the expected
shape has its selection run the same short way, once awaited when the resolver is
asynchronous; any other result (a null, a wrong type) is completed by graphql-core's own
`complete_value`, as `execute_field` (and, for an awaitable, `complete_awaitable_value`)
would after the same call.

The objects of a list whose selection is made only of such fields (plain leaves and
children, loaded fields, `__typename`) are answered by one function compiled for that
selection (`app.graphql.compiled`), shared by every request that makes it; on anything
unexpected the object is run again by the plan as above.

Which fields qualify is decided once, when the schema is built (`app.graphql.resolvers`
marks them); with field middleware (an extension that wraps resolvers) nothing does.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Sequence
from functools import partial
from itertools import chain
from typing import Any

from graphql import GraphQLField, GraphQLNonNull, GraphQLObjectType, GraphQLResolveInfoHelpers
from graphql.execution.executor import to_nodes
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.graphql import compiled
from app.graphql.compiled import is_instance
from app.graphql.loaders import NOT_LOADED, loaded_now
from app.graphql.resolvers import Child, Leaf, Loaded, marks_of
from app.graphql.shared_plans import fields_key, shared_for

# A resolver marked direct: its field, the Child of its type, and what it loads
# when it is a loaded field
_Direct = tuple[GraphQLField, Child, Loaded | None]
# The collected selection of a child's object type and its plan, once worked out (None
# before, _DEFERRED when the selection defers something: graphql-core's path then).
_Sub = list[Any]
# response name, its field group, and how to read it: a plain leaf, a plain child, a simple
# resolver returning objects, or none of these; and the child's selection, memoised
_Step = tuple[str, Any, Leaf | None, Child | None, _Direct | None, _Sub]
_DEFERRED: Any = object()


class _Plan:
    """How each field of one selection is read; and, once the selection is run for the
    objects of a list, the selection compiled to one function when every field in it is
    plain (app.graphql.compiled), else None."""

    __slots__ = ("compiled", "steps", "tried")

    def __init__(self, steps: list[_Step]) -> None:
        self.steps = steps
        self.compiled: compiled.Compiled | None = None
        self.tried = False  # whether `compiled` was worked out


def _helpers_of(executor: ParleyExecutionContext) -> GraphQLResolveInfoHelpers:
    """The resolve info's helpers (`info.async_helpers`), reaching `executor` through a weak
    reference. graphql-core builds them from the executor's own bound methods and keeps them
    on the executor: a reference cycle, so every executor, and everything a request's
    execution holds (its plans, selections and rows), waited for the cycle collector instead
    of going when the request let go of it; with a hundred or more such objects per request,
    the collector's pauses were a tenth of the API's time under load (docs/BENCHMARKS.md,
    tenth pass). A resolver runs while its executor does, so the reference is alive
    whenever a helper is called during the request."""
    owner = weakref.ref(executor)

    def alive() -> ParleyExecutionContext:
        found = owner()
        if found is None:
            raise RuntimeError("async_helpers used after its operation's execution finished")
        return found

    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return alive().gather_async_work(values)

    def track(values: Sequence[Any]) -> None:
        alive().track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


class ParleyExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, reading plain leaves and running the selections of
    plain objects without graphql-core's per-field machinery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _helpers_of(self)
        # graphql-core hands every object of a list the same grouped field set: how each of
        # its fields is read is decided once per request (keyed by identity, the set kept
        # alive with its plan so the id cannot be reused). A child field's step also keeps
        # its object's selection and plan, so the objects of a list (and their children)
        # reach them without collecting or looking anything up again.
        self._plans: dict[int, tuple[Any, _Plan]] = {}
        # And once for every request running the same parsed operation, unless its fields
        # depend on variables (app.graphql.shared_plans): its plans, their compiled
        # functions and their children's selections are then worked out by the first.
        self._shared = shared_for(self.schema, self.operation, self.fragment_definitions)
        # Plans whose compiled function gave up in this request (a shared plan keeps its
        # function for the others).
        self._dropped: set[_Plan] | None = None

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> _Plan:
        known = self._plans.get(id(grouped_field_set))
        if known is not None and known[0] is grouped_field_set:
            return known[1]
        shared = self._shared
        if shared is None:
            plan = self._new_plan(parent_type, grouped_field_set)
        else:
            key = fields_key(parent_type.name, chain.from_iterable(grouped_field_set.values()))
            found: _Plan | None = shared.plans.get(key)
            if found is None:
                found = shared.plans[key] = self._new_plan(parent_type, grouped_field_set)
            plan = found
        self._plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: Any) -> Any:
        """graphql-core's collection of an object's selection (for the objects it completes
        itself: what resolvers return), shared like the plans when the operation's are."""
        shared = self._shared
        if shared is None:
            return super().collect_subfields(return_type, field_details_list)
        key = fields_key(return_type.name, field_details_list)
        found = shared.collections.get(key)
        if found is None:
            found = super().collect_subfields(return_type, field_details_list)
            shared.collections[key] = found
        return found

    def _new_plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> _Plan:
        fields = parent_type.fields
        steps: list[_Step] = []
        for response_name, details in grouped_field_set.items():
            field = fields.get(details[0].node.name.value)
            resolve = field.resolve if field is not None else None
            leaf, child, direct, loaded = marks_of(resolve)  # unmarked when there is no field
            call = (field, direct, loaded) if direct is not None else None
            steps.append((response_name, details, leaf, child, call, [None]))
        return _Plan(steps)

    def _function(self, plan: _Plan) -> compiled.Compiled | None:
        """The plan's compiled function, unless it gave up earlier in this request."""
        function = plan.compiled
        if function is None or (self._dropped is not None and plan in self._dropped):
            return None
        return function

    def _drop(self, plan: _Plan) -> None:
        """Run the plan's objects by its steps for the rest of this request."""
        if self._dropped is None:
            self._dropped = set()
        self._dropped.add(plan)

    def _compile(self, parent_type: GraphQLObjectType, plan: _Plan) -> compiled.Compiled | None:
        """The plan's compiled function, worked out on the first call. Only lists ask (and
        the selections below them): for a single object, looking the function up costs
        about what it saves."""
        if not plan.tried:
            plan.tried = True
            plan.compiled = self._compiled(parent_type, plan.steps)
        return plan.compiled

    def _compiled(
        self, parent_type: GraphQLObjectType, steps: list[_Step]
    ) -> compiled.Compiled | None:
        """The selection compiled (shared by every request with the same selection), or
        None when a field in it, or in a selection below it, is not plain."""
        if not all(_plain(step) for step in steps):  # known before anything below is
            return None
        parts: list[compiled.Step] = []
        for step in steps:
            response_name, _details, leaf, child, direct, _sub = step
            if leaf is not None:
                parts.append(compiled.leaf(response_name, leaf))
                continue
            if child is not None:
                below = self._compiled_below(step, child)
                if below is None:
                    return None
                parts.append(compiled.child(response_name, child, below))
                continue
            if direct is not None and direct[2] is not None:
                below = self._compiled_below(step, direct[1])
                if below is None:
                    return None
                parts.append(compiled.loaded(response_name, direct[2], direct[1], below))
                continue
            parts.append(compiled.typename(response_name, parent_type.name))
        return compiled.compile_selection(tuple(parts))

    def _compiled_below(self, step: _Step, child: Child) -> compiled.Compiled | None:
        """The compiled selection of the object (or objects) a step leads to, or None."""
        sub = self._selection(step, child)
        return None if sub is _DEFERRED else self._compile(child.type, sub)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """Execute a selection set's fields (concurrently where they are awaitable)."""
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plan = self._plan(parent_type, grouped_field_set)
        return self._run_plan(parent_type, source_value, path, plan, position_context)

    def _run_plan(  # noqa: PLR0912 - the leaf read is inline on purpose
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        plan: _Plan,
        position_context: Any = None,
    ) -> Any:
        """The fields of one object by its plan (only without field middleware, which
        execute_fields has checked before any plan runs)."""
        function = self._function(plan)
        if function is not None:
            answer = function(source_value, self._loaders())
            if answer is not compiled.FALLBACK:
                return answer
            # Something unexpected (an error to report, a value not loaded yet): the
            # ordinary path answers this object, and the rest of this request's objects
            # with this selection, rather than trying each twice.
            self._drop(plan)
        results: dict[str, Any] = {}
        pending: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for step in plan.steps:
                response_name, details, leaf, child, direct, _sub = step
                if leaf is not None:
                    # A plain leaf, read inline (a call per leaf cost 0.8 % of op1): the
                    # coerced value; a null where the field allows one. Anything else (a
                    # null in a non-null field, a value that does not coerce, an error)
                    # falls through to the ordinary path, which raises it properly.
                    attribute, coerce, nullable, _exact = leaf
                    try:
                        value = getattr(source_value, attribute)
                        if value is None:
                            if nullable:
                                results[response_name] = None
                                continue
                        else:
                            value = coerce(value)
                            if value is not None:
                                results[response_name] = value
                                continue
                    except Exception:  # noqa: S110 - the ordinary path raises it below
                        pass
                if child is not None:
                    result = self._execute_child(step, child, parent_type, source_value, path)
                elif direct is not None:
                    result = self._execute_direct(step, direct, parent_type, source_value, path)
                else:
                    result = Undefined
                if result is Undefined:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        details,
                        _path((path, response_name, parent_type.name)),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                results[response_name] = result
                # A completed object or list (most of them) needs no awaitable check.
                if result.__class__ not in _COMPLETED and is_awaitable(result):
                    pending.append(response_name)
        except Exception:
            if pending:
                self.settle_in_background([results[name] for name in pending])
            raise
        if not pending:
            return results
        return self._gather(results, pending)

    def _execute_child(
        self,
        step: _Step,
        child: Child,
        parent_type: GraphQLObjectType,
        source: Any,
        path: Path | None,
    ) -> Any:
        """A plain object or list-of-objects field, or Undefined for the ordinary path."""
        value = _child_value(source, child)
        if value is None or value is Undefined:
            return value
        sub = self._selection(step, child)
        if sub is _DEFERRED:
            return Undefined
        field_path = _path((path, step[0], parent_type.name))
        return self._run_child(child, value, step[1], field_path, sub)

    def _selection(self, step: _Step, child: Child) -> Any:
        """The child's collected selection and its plan (worked out on first use), or
        _DEFERRED."""
        memo = step[5]
        sub = memo[0]
        if sub is None:
            grouped, defer_usages, _forbidden = self.collect_subfields(child.type, step[1])
            sub = _DEFERRED if defer_usages else self._plan(child.type, grouped)
            memo[0] = sub
        return sub

    def _execute_direct(  # noqa: PLR0911 - each way the field completes, in order
        self,
        step: _Step,
        direct: _Direct,
        parent_type: GraphQLObjectType,
        source: Any,
        path: Path | None,
    ) -> Any:
        """A resolver returning an object (or a list of them): called here, and the
        object's selection run directly when it has the expected shape (once awaited, for an
        awaitable); anything else (a null, a wrong type) is completed by graphql-core as
        `execute_field` would. A loaded field (app.graphql.loaders.loaded) whose value the
        request's loader already holds is not even called: the value is read from the
        loader. Undefined (before the resolver runs) for a deferred selection."""
        field, child, loaded = direct
        sub = self._selection(step, child)
        if sub is _DEFERRED:
            return Undefined
        details = step[1]
        field_path = _path((path, step[0], parent_type.name))
        held = Undefined if loaded is None else self._held(loaded, child, source)
        if held is None:
            return None
        if held is not Undefined:
            return self._run_child(child, held, details, field_path, sub)
        return_type = field.type
        info = self.build_resolve_info(field, to_nodes(details), parent_type, field_path)
        try:
            args = self._arguments(field, details[0])
            value = field.resolve(source, info, **args)  # type: ignore[misc] # marked: set
            if self.is_awaitable(value):
                return self._awaited_child(value, child, details, info, field_path, sub)
            completed = self._completed(value, child, details, info, field_path, sub)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, field_path)
            return None
        if self.is_awaitable(completed):
            return self._settle(completed, return_type, details, field_path)
        return completed

    def _arguments(self, field: GraphQLField, first: Any) -> dict[str, Any]:
        """The field's arguments as `execute_field` builds them (coerced, defaults applied)."""
        node = first.node
        if not field.args and not node.arguments:
            return {}
        return get_argument_values(
            field,
            node,
            self.variable_values,
            first.fragment_variable_values,
            self.hide_suggestions,
        )

    async def _awaited_child(
        self,
        awaitable: Awaitable[Any],
        child: Child,
        details: Any,
        info: Any,
        field_path: Path,
        plan: _Plan,
    ) -> Any:
        """`complete_awaitable_value` for a direct resolver's awaitable: an object of the
        expected shape has its selection run by the plan, anything else is graphql-core's
        `complete_value`'s; an error on the way nulls the field where graphql-core would."""
        try:
            value = await self.with_abort_signal(awaitable)
            completed = self._completed(value, child, details, info, field_path, plan)
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, child.field_type, details, field_path)
            completed = None
        return completed

    def _completed(
        self, value: Any, child: Child, details: Any, info: Any, field_path: Path, plan: _Plan
    ) -> Any:
        """A direct resolver's (awaited) value completed: an object of the expected shape by
        its plan (which handles its own errors), anything else by graphql-core's
        `complete_value` (which raises them)."""
        if value is not None and _expected(child, value):
            return self._run_child(child, value, details, field_path, plan)
        return self.complete_value(child.field_type, details, info, field_path, value, None)

    def _loaders(self) -> Any:
        """The request's loaders (None for a context without them)."""
        return getattr(self.context_value, "loaders", None)

    def _held(self, loaded: Loaded, child: Child, source: Any) -> Any:
        """What a loaded field answers without its resolver: the converted value the
        request's loader holds (converted once per request), None for a null key the field
        allows, or Undefined whenever the resolver must decide (no loaders, a key the loader
        does not hold, a null or unexpected value, an error on the way)."""
        loaders = getattr(self.context_value, "loaders", None)
        loader = getattr(loaders, loaded.loader, None)
        if loader is None:
            return Undefined
        try:
            key = getattr(source, loaded.key)
            if key is None:
                return None if child.nullable else Undefined
            value = loaded_now(loader, key, loaded.convert, loaders.converted)  # type: ignore[union-attr]
        except Exception:  # the resolver raises it where graphql-core locates it
            return Undefined
        if value is NOT_LOADED or value is None or not _expected(child, value):
            return Undefined
        return value

    def _run_child(
        self, child: Child, value: Any, details: Any, field_path: Path, plan: _Plan
    ) -> Any:
        """The selection of a checked object (or list of them); an error inside is located
        at the field and nulls it, as graphql-core's completion does."""
        return_type = child.field_type
        try:
            if child.item_nullable is None:
                completed = self._run_plan(child.type, value, field_path, plan)
            else:
                completed = self._execute_items(child, value, details, field_path, plan)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, field_path)
            return None
        if self.is_awaitable(completed):
            return self._settle(completed, return_type, details, field_path)
        return completed

    def _execute_items(
        self, child: Child, items: Any, details: Any, path: Path, plan: _Plan
    ) -> Any:
        """Each object of a list, like graphql-core's list completion: an error in an item
        nulls that item when the item type allows it, else the whole list."""
        type_ = child.type
        item_type = type_ if child.item_nullable else GraphQLNonNull(type_)
        completed: list[Any] = []
        pending: list[int] = []
        is_awaitable = self.is_awaitable
        if not plan.tried and len(items) > 1:
            self._compile(type_, plan)
        function = self._function(plan)
        if function is not None:
            answered = self._compiled_items(function, items, plan)
            if answered is not None:
                return answered
        try:
            for index, item in enumerate(items):
                if item is None:
                    completed.append(None)
                    continue
                item_path = _path((path, index, None))
                try:
                    result = self._run_plan(type_, item, item_path, plan)
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, details, item_path)
                    result = None
                if result.__class__ not in _COMPLETED and is_awaitable(result):
                    result = self._settle(result, item_type, details, item_path)
                    pending.append(index)
                completed.append(result)
        except Exception:
            if pending:
                self.settle_in_background([completed[index] for index in pending])
            raise
        if not pending:
            return completed
        return self._gather_items(completed, pending)

    def _compiled_items(
        self, function: compiled.Compiled, items: Any, plan: _Plan
    ) -> list[Any] | None:
        """Every item answered by the plan's compiled `function` (the items' type was
        checked with the list), or None, with the function dropped for the rest of the
        request, when one of them falls back: the ordinary loop then runs them all."""
        loaders = self._loaders()
        fallback = compiled.FALLBACK
        completed: list[Any] = []
        for item in items:
            answer = None if item is None else function(item, loaders)
            if answer is fallback:
                self._drop(plan)
                return None
            completed.append(answer)
        return completed

    async def _settle(
        self, awaitable: Awaitable[Any], return_type: Any, details: Any, path: Path
    ) -> Any:
        try:
            return await awaitable
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None

    @staticmethod
    async def _gather_items(completed: list[Any], pending: list[int]) -> list[Any]:
        if len(pending) == 1:
            completed[pending[0]] = await completed[pending[0]]
            return completed
        values = await gather_with_cancel(*(completed[index] for index in pending))
        for index, value in zip(pending, values, strict=True):
            completed[index] = value
        return completed

    @staticmethod
    async def _gather(results: dict[str, Any], pending: list[str]) -> dict[str, Any]:
        if len(pending) == 1:
            name = pending[0]
            awaitable: Awaitable[Any] = results[name]
            results[name] = await awaitable
            return results
        # Cancels the others when one fails, as graphql-core's own path does.
        values = await gather_with_cancel(*(results[name] for name in pending))
        results.update(zip(pending, values, strict=True))
        return results


# graphql-core's Path is a NamedTuple: building one through its class runs a Python-level
# __new__ (and add_key another), a page builds about a hundred; the tuple constructor
# makes the same object without them.
_path = partial(tuple.__new__, Path)

_COMPLETED = (dict, list, type(None))  # what a completed field holds, never awaitable


def _plain(step: _Step) -> bool:
    """Whether a step can be compiled: a plain leaf or child, a loaded field, __typename."""
    _name, details, leaf, child, direct, _sub = step
    if leaf is not None or child is not None or (direct is not None and direct[2] is not None):
        return True
    return bool(details[0].node.name.value == "__typename")


def _child_value(source: Any, child: Child) -> Any:
    """The object (or list) a plain field holds, None for a null the field allows, or
    Undefined when the ordinary path must decide."""
    try:
        value = getattr(source, child.attribute)
    except Exception:  # the ordinary path raises it at the right place
        return Undefined
    if value is None:
        return None if child.nullable else Undefined
    return value if _expected(child, value) else Undefined


def _expected(child: Child, value: Any) -> bool:
    """Whether a non-null value has the shape the field's type asks for (else the ordinary
    path runs, and raises its own error for it)."""
    if child.item_nullable is None:
        return is_instance(child, value)
    if not isinstance(value, list | tuple):
        return False
    for item in value:
        if item is None:
            if not child.item_nullable:
                return False
        elif not is_instance(child, item):
            return False
    return True
