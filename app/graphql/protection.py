"""Between validation and execution: price the document, refuse it if it is too expensive,
and charge the caller's rate-limit budgets.

Its hook runs where the document is parsed and validated and nothing has executed yet: as a
schema extension under Strawberry's runner (subscriptions), and driven the same way by the
pipeline for queries and mutations (app/graphql/pipeline.py). A refusal becomes the
operation's result; the HTTP layer reads `Context.guard` for the status code and the
RateLimit headers.

Mutations (and anything starting answer generations) are decided before they execute. A query
may instead execute while its decision is on its way to Redis (see `Protection.on_execute`),
which takes the Redis round trip off the request's critical path; a refused query still
answers only the refusal.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.config import ApiSettings
from app.errors import ParleyError
from app.graphql.complexity import Cost, estimate
from app.pagination import PAGE_SIZE_DEFAULT
from tenancy.ratelimit import service as ratelimit
from tenancy.ratelimit.policy import Bucket, Decision

if TYPE_CHECKING:
    from app.graphql.context import Context


@dataclass
class GuardState:
    """What protection found and decided for one operation."""

    cost: Cost | None = None
    decision: Decision | None = None
    executed: bool = False  # the operation passed every check and went on to execute
    # Set by the HTTP layer for a caller this process has not refused recently: a query's
    # decision may then run while it executes (Protection.on_execute).
    may_overlap: bool = False


async def _budgets(context: Context, points: int, answers: int) -> list[Bucket] | None:
    """The request's buckets (None with rate limiting off), read inside the request's
    transaction (plan limits are read under the tenant). Holds the session only for this,
    never while Redis decides."""
    state = context.state
    if not state.settings.ratelimit.enabled:
        # Nothing to charge: skip even taking the request's connection for it.
        return None
    async with context.db() as session:
        return await ratelimit.budgets(
            session, context.principal, state.settings, points=points, answers=answers
        )


async def charge(context: Context, points: int, answers: int = 0) -> Decision | None:
    """Charge the request's caller; None with rate limiting off."""
    state = context.state
    return await ratelimit.admit_with(
        context.db, state.limiter, context.principal, state.settings, points=points, answers=answers
    )


def _refused(guard: GuardState) -> GraphQLError | None:
    """The error for a refused decision, None when it admitted the operation."""
    if guard.decision is not None and not guard.decision.allowed:
        error = ratelimit.refusal(guard.decision)
        return GraphQLError(error.message, original_error=error)
    return None


def _consume(task: asyncio.Task[Decision]) -> None:
    """Retrieve an abandoned decision's outcome, so its error is not logged as unhandled."""
    if not task.cancelled():
        task.exception()


class Protection(SchemaExtension):
    """Cost limit and rate limiting for every operation."""

    def __init__(self, api: ApiSettings) -> None:
        super().__init__()
        self.api = api

    async def on_execute(self) -> AsyncIterator[None]:
        """Decide before graphql-core executes (or, for a query, while it executes); a
        refusal replaces the result."""
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
        context: Context = ec.context
        pending: asyncio.Task[Decision] | None = None
        refused = self._too_costly(cost)
        if refused is None:
            points = cost.points(self.api.cost_per_point)
            if self._may_overlap(context, guard, cost, ec.operation_type):
                try:
                    pending = await self._start(context, points)
                except ParleyError as exc:
                    refused = GraphQLError(exc.message, original_error=exc)
            else:
                refused = await self._decide(context, guard, points, cost.answers)
        if pending is None:
            if refused is not None:
                ec.result = GraphQLExecutionResult(data=None, errors=[refused])
            else:
                guard.executed = True
            yield
            return
        # Why a query may run before its decision is known: it changes nothing that outlives
        # the request (a refused query's transaction rolls back and its result is replaced by
        # the refusal, so no data leaves), and it overlaps the Redis round trip with the
        # database work. What it can waste (database time; for `search`, one embedding call)
        # is bounded: the HTTP layer allows this only for a
        # caller this process has not refused within its Retry-After (RefusalCache), so a
        # caller past its budget gets at most one speculative execution per refusal (plus
        # whatever it had in flight when that refusal landed) before being decided first again,
        # or refused with no work at all. The cost limit above applies before anything runs.
        try:
            yield
        except BaseException:
            pending.cancel()  # the request is gone; the decision no longer matters
            pending.add_done_callback(_consume)
            raise
        refused = await self._settle(guard, pending)
        if refused is None:
            guard.executed = True
            return
        context.response_headers.clear()
        # Strawberry returns the object graphql-core produced (ec.result is that same
        # object), not whatever ec.result names after this hook: replace its contents.
        result = ec.result
        if isinstance(result, GraphQLExecutionResult):
            result.data, result.errors = None, [refused]
        else:
            ec.result = GraphQLExecutionResult(data=None, errors=[refused])

    def _too_costly(self, cost: Cost) -> GraphQLError | None:
        maximum = self.api.max_query_cost
        if cost.cost > maximum:
            return GraphQLError(
                f"The operation may resolve about {cost.cost} objects; the maximum is {maximum}. "
                "Ask for smaller pages or fewer nested lists.",
                extensions={"limit": "cost", "cost": cost.cost, "maximum": maximum},
            )
        return None

    @staticmethod
    def _may_overlap(
        context: Context, guard: GuardState, cost: Cost, operation: OperationType
    ) -> bool:
        """Whether the decision may run during execution: only for queries (mutations have
        effects beyond their transaction), never for answer generations (they call a model),
        nor while the limiter is degraded (its local decision is instant and widget calls
        are refused outright then)."""
        state = context.state
        return (
            operation is OperationType.QUERY
            and guard.may_overlap
            and not cost.answers
            and state.settings.ratelimit.enabled
            and not state.limiter.degraded
        )

    async def _decide(
        self, context: Context, guard: GuardState, points: int, answers: int
    ) -> GraphQLError | None:
        try:
            guard.decision = await charge(context, points, answers)
        except ParleyError as exc:  # the limiter cannot decide (Redis down) for this call
            return GraphQLError(exc.message, original_error=exc)
        return _refused(guard)

    @staticmethod
    async def _start(context: Context, points: int) -> asyncio.Task[Decision]:
        """Read the buckets now (they need the session, which execution is about to use)
        and send the decision off on its own."""
        buckets = await _budgets(context, points, 0)
        assert buckets is not None  # _may_overlap checked that rate limiting is on
        limiter, principal = context.state.limiter, context.principal
        return asyncio.create_task(ratelimit.decide(limiter, principal, buckets))

    @staticmethod
    async def _settle(guard: GuardState, pending: asyncio.Task[Decision]) -> GraphQLError | None:
        try:
            guard.decision = await pending
        except ParleyError as exc:
            return GraphQLError(exc.message, original_error=exc)
        return _refused(guard)
