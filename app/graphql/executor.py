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

Which fields qualify is decided once, when the schema is built (`app.graphql.resolvers`
marks them); with field middleware (an extension that wraps resolvers) nothing does.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from graphql import GraphQLObjectType
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.graphql.resolvers import Leaf, leaf_of


class ParleyExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, reading plain leaves without per-field machinery."""

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
        fields = parent_type.fields
        results: dict[str, Any] = {}
        pending: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for response_name, details in grouped_field_set.items():
                field = fields.get(details[0].node.name.value)
                leaf = leaf_of(field.resolve) if field is not None else None
                if leaf is not None:
                    value = _read_leaf(source_value, leaf)
                    if value is not Undefined:
                        results[response_name] = value
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is Undefined:
                    continue
                results[response_name] = result
                if is_awaitable(result):
                    pending.append(response_name)
        except Exception:
            if pending:
                self.settle_in_background([results[name] for name in pending])
            raise
        if not pending:
            return results
        return self._gather(results, pending)

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


def _read_leaf(source: Any, leaf: Leaf) -> Any:
    """The coerced value of a plain leaf, or Undefined when the ordinary path must decide
    (a null in a non-null field, a value that does not coerce, anything unexpected)."""
    try:
        value = getattr(source, leaf.attribute)
        if value is None:
            # A nullable field answers null; a non-null one raises graphql-core's error.
            return None if leaf.nullable else Undefined
        coerced = leaf.coerce(value)
    except Exception:  # re-run the ordinary way, which raises it properly
        return Undefined
    return Undefined if coerced is None else coerced
