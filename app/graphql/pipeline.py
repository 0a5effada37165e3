"""One operation through the schema as plain calls: parse, check, validate, protect, execute,
format.

Strawberry runs these steps as schema extensions. Per request it builds every extension
object, a runner, and four hook context managers that ask every extension for every hook:
about 250 Python calls (op1 of `ops/bench/graphql_path.py`) around steps that cost a few
dictionary lookups once the parse and validation caches are warm. `ParleySchema.execute`
(app/graphql/schema.py) runs the same steps here instead, in the order and with the outcomes
Strawberry's `Schema.execute` gives them: the same errors, processed (logged) at the same
points, the same exceptions for a missing query, an unknown operation name or a forbidden
operation type, and Protection's hook driven exactly as Strawberry's runner drives it
(tests/app/test_pipeline.py compares the two paths).

What still goes through Strawberry's runner (subscriptions over the WebSocket) gets the
parse and validation steps as one extension, `Pipeline.extension()`, calling the same
functions, so each step has one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, parse, specified_rules
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import execute as graphql_execute
from strawberry.exceptions import MissingQueryError
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.await_maybe import await_maybe

from app.config import ApiSettings
from app.graphql.errors import format_error
from app.graphql.protection import Protection
from app.graphql.validation import validated

if TYPE_CHECKING:
    import strawberry


class Pipeline:
    """The steps of an operation for one schema's settings (built once, with the schema)."""

    def __init__(
        self,
        api: ApiSettings,
        rules: Sequence[type[ASTValidationRule]],
        hide_suggestions: bool,
        cache_size: int = 512,
    ) -> None:
        self.api = api
        # Strawberry's default rules, then ours in the order its extensions added them.
        self.rules: tuple[type[ASTValidationRule], ...] = (*specified_rules, *rules)
        self.hide_suggestions = hide_suggestions
        self.cache_size = cache_size
        # Same text, same document object: what the validation and cost memos key on.
        self.parse: Callable[[str], DocumentNode] = lru_cache(maxsize=cache_size)(
            partial(parse, max_tokens=api.max_tokens)
        )

    def validate(self, schema: strawberry.Schema, document: DocumentNode) -> list[GraphQLError]:
        """The document's validation errors (remembered per document object)."""
        return validated(schema._schema, document, self.rules, self.cache_size)

    def extension(self) -> SchemaExtension:
        """Parsing and validation as one schema extension, for Strawberry's own runner."""
        return _Steps(self)

    async def execute(
        self,
        schema: strawberry.Schema,
        query: str | None,
        variable_values: dict[str, Any] | None,
        context_value: Any,
        root_value: Any,
        operation_name: str | None,
        allowed_operation_types: Iterable[OperationType],
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        """What Strawberry's `Schema.execute` answers for this schema, without its runner."""
        ec = ExecutionContext(
            query=query,
            schema=schema,
            allowed_operations=allowed_operation_types,
            context=context_value,
            root_value=root_value,
            variables=variable_values,
            provided_operation_name=operation_name,
            operation_extensions=operation_extensions,
        )
        try:
            result = await self._run(schema, ec)
        except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
            raise
        except Exception as exc:  # Strawberry answers any other failure as an error
            result = self._refused_before(schema, ec, [_as_error(exc)])
        if isinstance(result, GraphQLExecutionResult):
            result = ExecutionResult(data=result.data, errors=result.errors)
        result.extensions = {}  # what Strawberry's runner collects from these steps
        ec.result = result
        if result.errors:
            result.errors = [format_error(e, self.hide_suggestions) for e in result.errors]
        return result

    async def _run(
        self, schema: strawberry.Schema, ec: ExecutionContext
    ) -> GraphQLExecutionResult | ExecutionResult:
        if not ec.query:
            raise MissingQueryError
        try:
            ec.graphql_document = self.parse(ec.query)
        except Exception as exc:  # a syntax error, the token limit, or anything else
            return self._refused_before(schema, ec, [_as_error(exc)])
        try:
            operation_type = ec.operation_type
        except RuntimeError as error:
            raise CannotGetOperationTypeError(ec.operation_name) from error
        if operation_type not in ec.allowed_operations:
            raise InvalidOperationTypeError(operation_type)
        errors = self.validate(schema, ec.graphql_document)
        if errors:
            return self._refused_before(schema, ec, errors)
        protection = Protection(self.api)
        protection.execution_context = ec
        # Entered as Strawberry's runner enters a generator hook (exceptions thrown into it).
        async with asynccontextmanager(protection.on_execute)():
            if ec.result is None:  # not refused by Protection
                ec.result = await await_maybe(
                    graphql_execute(
                        schema._schema,
                        ec.graphql_document,
                        root_value=ec.root_value,
                        variable_values=ec.variables,
                        operation_name=ec.operation_name,
                        context_value=ec.context,
                        is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type] # as Strawberry
                        executor_class=schema.execution_context_class,
                        operation_extensions=ec.operation_extensions,
                    )
                )
            result = ec.result
            assert isinstance(result, GraphQLExecutionResult | ExecutionResult)
            # Inside the hook, as Strawberry does: errors are processed (logged) before
            # Protection may replace them with a refusal.
            if isinstance(result, GraphQLExecutionResult) and result.errors:
                ec.pre_execution_errors = result.errors
                schema._process_errors(result.errors, ec)
        return result

    @staticmethod
    def _refused_before(
        schema: strawberry.Schema, ec: ExecutionContext, errors: list[GraphQLError]
    ) -> PreExecutionError:
        ec.pre_execution_errors = errors
        schema._process_errors(errors, ec)
        return PreExecutionError(data=None, errors=errors)


def _as_error(exc: Exception) -> GraphQLError:
    """The exception as a GraphQL error (Strawberry's `_coerce_error`)."""
    if isinstance(exc, GraphQLError):
        return exc
    return GraphQLError(str(exc), original_error=exc)


class _Steps(SchemaExtension):
    """The pipeline's parse and validation under Strawberry's hooks."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self.pipeline = pipeline

    def on_parse(self) -> Iterator[None]:
        """The cached document (a syntax error propagates, as Strawberry's parser cache's)."""
        ec = self.execution_context
        if ec.query:
            ec.graphql_document = self.pipeline.parse(ec.query)
        yield

    def on_validate(self) -> Iterator[None]:
        """The remembered validation errors; Strawberry then skips its own validation."""
        ec = self.execution_context
        if ec.graphql_document is not None:
            ec.pre_execution_errors = self.pipeline.validate(ec.schema, ec.graphql_document)
        yield


__all__ = ["Pipeline"]
