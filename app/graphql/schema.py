"""The schema: every domain's root fields, the limits, and error handling."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import strawberry
from graphql import ASTValidationRule, GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import DisableValidation, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from app.config import Settings
from app.graphql.assistant.mutations import AssistantMutation
from app.graphql.assistant.queries import AssistantQuery
from app.graphql.assistant.subscriptions import AssistantSubscription
from app.graphql.billing.mutations import BillingMutation
from app.graphql.billing.queries import BillingQuery
from app.graphql.complexity import document_limits_rule
from app.graphql.context import Info
from app.graphql.errors import ErrorFormatter, log_errors
from app.graphql.executor import ParleyExecutionContext
from app.graphql.knowledge.mutations import KnowledgeMutation
from app.graphql.knowledge.queries import KnowledgeQuery
from app.graphql.leads.mutations import LeadsMutation
from app.graphql.leads.queries import LeadsQuery
from app.graphql.names import RememberedNames
from app.graphql.node import Node, resolve_node
from app.graphql.pipeline import Pipeline
from app.graphql.protection import Protection
from app.graphql.resolvers import direct_plain_fields
from app.graphql.scalars import SCALARS
from app.graphql.tenancy.mutations import TenancyMutation
from app.graphql.tenancy.queries import TenancyQuery
from app.graphql.widget.mutations import WidgetMutation
from app.graphql.widget.queries import WidgetQuery

__all__ = ["DisableValidation", "build_schema"]


@strawberry.type(description="Read operations.")
class Query(TenancyQuery, BillingQuery, WidgetQuery, LeadsQuery, KnowledgeQuery, AssistantQuery):
    """Root query: one base class per domain."""

    @strawberry.field(
        description="Fetch any object by its global id; null when it does not exist for the caller."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        """Relay's node field."""
        result: Any = await resolve_node(info, str(id))
        return result  # type: ignore[no-any-return]


@strawberry.type(description="Write operations.")
class Mutation(
    TenancyMutation,
    BillingMutation,
    WidgetMutation,
    LeadsMutation,
    KnowledgeMutation,
    AssistantMutation,
):
    """Root mutation: one base class per domain."""


@strawberry.type(description="Live updates, over the WebSocket endpoint (graphql-transport-ws).")
class Subscription(AssistantSubscription):
    """Root subscription: one base class per domain."""


class ParleySchema(strawberry.Schema):
    """Runs queries and mutations through its Pipeline (app/graphql/pipeline.py) instead of
    Strawberry's extension runner, and logs only unexpected errors (expected ones are part
    of the API)."""

    pipeline: Pipeline | None = None  # set by build_schema; None: Strawberry's own path

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Strawberry's `Schema.execute`, answered by the pipeline when there is one."""
        if self.pipeline is None:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed_operation_types,
                operation_extensions,
            )
        return await self.pipeline.execute(
            self,
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES,
            operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Called with the original errors before ErrorFormatter rewrites them."""
        log_errors(errors)


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with the limits configured for this deployment."""
    api = settings.api
    # Depth and alias limits in linear time (Strawberry's limiters are exponential in nested
    # fragment spreads); one rule class per schema so the validation cache can hit.
    document_limits = document_limits_rule(api.max_query_depth, api.max_aliases)
    hide_suggestions = not settings.introspection_enabled
    rules: list[type[ASTValidationRule]] = [document_limits]
    if not settings.introspection_enabled:
        rules.append(NoSchemaIntrospectionCustomRule)
    pipeline = Pipeline(api, rules, hide_suggestions)
    # What Strawberry's runner still runs (subscriptions); execute() runs `pipeline` itself.
    extensions: list[Callable[[], SchemaExtension]] = [
        pipeline.extension,
        lambda: Protection(api),
        lambda: ErrorFormatter(hide_suggestions=hide_suggestions),
    ]
    schema = ParleySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=ParleyExecutionContext,
        config=StrawberryConfig(
            auto_camel_case=True, name_converter=RememberedNames(), scalar_map=SCALARS
        ),
    )
    schema.pipeline = pipeline
    direct_plain_fields(schema)
    return schema
