"""Between validation and execution: price the document, refuse it if it is too expensive,
and charge the caller's rate-limit budgets.

Runs as a schema extension because only there the document is parsed and validated and
nothing has executed yet. A refusal becomes the operation's result without running any
resolver; the HTTP layer reads `Context.guard` for the status code and the RateLimit headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.config import ApiSettings
from app.errors import ParleyError
from app.graphql.complexity import Cost, estimate
from app.pagination import PAGE_SIZE_DEFAULT
from tenancy.ratelimit import service as ratelimit
from tenancy.ratelimit.policy import Decision

if TYPE_CHECKING:
    from app.graphql.context import Context


@dataclass
class GuardState:
    """What protection found and decided for one operation."""

    cost: Cost | None = None
    decision: Decision | None = None
    executed: bool = False  # the operation passed every check and went on to execute


async def charge(context: Context, points: int, answers: int = 0) -> Decision | None:
    """Charge the request's caller; inside the request's transaction (plan limits are read
    under the tenant)."""
    state = context.state
    if not state.settings.ratelimit.enabled:
        # Nothing to charge: skip even taking the request's connection for it.
        return None
    async with context.db() as session:
        return await ratelimit.admit(
            session,
            state.limiter,
            context.principal,
            state.settings,
            points=points,
            answers=answers,
        )


class Protection(SchemaExtension):
    """Cost limit and rate limiting for every operation."""

    def __init__(self, api: ApiSettings) -> None:
        super().__init__()
        self.api = api

    async def on_execute(self) -> AsyncIterator[None]:
        """Decide before graphql-core executes; a refusal replaces the result."""
        ec = self.execution_context
        guard = getattr(ec.context, "guard", None)
        if not isinstance(guard, GuardState) or ec.graphql_document is None:
            yield
            return
        cost = estimate(
            ec.schema._schema,
            ec.graphql_document,
            ec.operation_name,
            ec.variables,
            default_page=PAGE_SIZE_DEFAULT,
            max_page=self.api.page_size_max,
        )
        guard.cost = cost
        refused = await self._refusal(ec.context, guard, cost)
        if refused is not None:
            ec.result = GraphQLExecutionResult(data=None, errors=[refused])
        else:
            guard.executed = True
        yield

    async def _refusal(
        self, context: Context, guard: GuardState, cost: Cost
    ) -> GraphQLError | None:
        maximum = self.api.max_query_cost
        if cost.cost > maximum:
            return GraphQLError(
                f"The operation may resolve about {cost.cost} objects; the maximum is {maximum}. "
                "Ask for smaller pages or fewer nested lists.",
                extensions={"limit": "cost", "cost": cost.cost, "maximum": maximum},
            )
        try:
            guard.decision = await charge(
                context, cost.points(self.api.cost_per_point), cost.answers
            )
        except ParleyError as exc:  # the limiter cannot decide (Redis down) for this call
            return GraphQLError(exc.message, original_error=exc)
        if guard.decision is not None and not guard.decision.allowed:
            error = ratelimit.refusal(guard.decision)
            return GraphQLError(error.message, original_error=error)
        return None
