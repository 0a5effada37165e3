"""How much a document asks for, measured before anything runs.

- Depth and alias limits, as one validation rule. Strawberry's QueryDepthLimiter and
  MaxAliasesLimiter re-walk a fragment at every spread, so a document of a few hundred bytes
  whose fragments each spread the next one twice takes seconds to validate (measured: 20 such
  fragments, 857 bytes, 8 s). Here each fragment is measured once and remembered, which keeps
  the work linear in the document's size.
- Cost: the objects a query may resolve. Every object-typed field costs 1 (scalars cost 0, a
  root mutation field 10) and a paginated field multiplies what is under it by its page size
  (`first`/`last`, or the default page size for a connection without them). A field may set
  its own cost, or declare that it draws from the answers budget, through field metadata:
  `strawberry.field(metadata={"cost": 5, "budget": "answers"})`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql.utilities import get_operation_ast

from app.graphql.memo import IdentityMemo

MUTATION_FIELD_COST = 10
ANSWERS_BUDGET = "answers"
_STRAWBERRY = "strawberry-definition"


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


class _Shape:
    """Depth and alias count of selection sets, each fragment measured once."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, tuple[int, int]] = {}
        self.visiting: set[str] = set()

    def of(self, selection_set: SelectionSetNode) -> tuple[int, int]:
        depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                aliases += 1 if selection.alias else 0
                if selection.name.value.startswith("__") or not selection.selection_set:
                    continue
                child_depth, child_aliases = self.of(selection.selection_set)
                depth = max(depth, 1 + child_depth)
                aliases += child_aliases
            elif isinstance(selection, InlineFragmentNode):
                child_depth, child_aliases = self.of(selection.selection_set)
                depth, aliases = max(depth, child_depth), aliases + child_aliases
            elif isinstance(selection, FragmentSpreadNode):
                child_depth, child_aliases = self.fragment(selection.name.value)
                depth, aliases = max(depth, child_depth), aliases + child_aliases
        return depth, aliases

    def fragment(self, name: str) -> tuple[int, int]:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:  # reported by the spec's own rules
            return 0, 0
        self.visiting.add(name)
        self.memo[name] = self.of(definition.selection_set)
        self.visiting.discard(name)
        return self.memo[name]


def document_limits_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations nested deeper than `max_depth` fields or using
    more than `max_aliases` aliases (counted through fragments)."""

    class DocumentLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            shape = _Shape(_fragments(document))
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                name = definition.name.value if definition.name else "anonymous"
                depth, aliases = shape.of(definition.selection_set)
                if depth > max_depth:
                    context.report_error(
                        GraphQLError(
                            f"Operation '{name}' is nested {depth} levels deep; the maximum "
                            f"is {max_depth}.",
                            definition,
                            extensions={"limit": "depth", "maximum": max_depth},
                        )
                    )
                if aliases > max_aliases:
                    context.report_error(
                        GraphQLError(
                            f"Operation '{name}' uses {aliases} aliases; the maximum is "
                            f"{max_aliases}.",
                            definition,
                            extensions={"limit": "aliases", "maximum": max_aliases},
                        )
                    )

    return DocumentLimits


@dataclass(frozen=True, slots=True)
class Cost:
    """The estimate for one operation."""

    cost: int  # objects the operation may resolve
    answers: int  # answer generations it may start

    def points(self, cost_per_point: int) -> int:
        """Rate-limit points charged: one per `cost_per_point` of cost, at least one."""
        return max(1, -(-self.cost // max(1, cost_per_point)))


def _metadata(field: GraphQLField) -> Mapping[str, Any]:
    definition = (field.extensions or {}).get(_STRAWBERRY)
    metadata = getattr(definition, "metadata", None)
    return metadata if isinstance(metadata, Mapping) else {}


class _Estimator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        default_page: int,
        max_page: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.default_page = default_page
        self.max_page = max_page
        self.memo: dict[str, tuple[int, int]] = {}
        self.visiting: set[str] = set()
        self.read: set[str] = set()  # the variables the estimate depends on

    def page_size(self, node: FieldNode, field: GraphQLField, named: GraphQLNamedType) -> int:
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                self.read.add(argument.value.name.value)
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int):
                return min(max(value, 0), self.max_page)
        for name in ("first", "last"):
            default = field.args[name].default_value if name in field.args else None
            if isinstance(default, int):
                return min(max(default, 0), self.max_page)
        if named.name.endswith("Connection"):
            return self.default_page
        return 1

    def of(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, root: bool = False
    ) -> tuple[int, int]:
        cost = answers = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                c, a = self.field(selection, parent, root)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                c, a = self.of(selection.selection_set, target, root)
            elif isinstance(selection, FragmentSpreadNode):
                c, a = self.fragment(selection.name.value)
            else:  # pragma: no cover - the AST has no other selection kinds
                continue
            cost, answers = cost + c, answers + a
        return cost, answers

    def field(
        self, node: FieldNode, parent: GraphQLNamedType | None, root: bool
    ) -> tuple[int, int]:
        name = node.name.value
        if name.startswith("__"):
            return (1 if name in ("__schema", "__type") else 0), 0
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0, 0
        field = parent.fields.get(name)
        if field is None:
            return 0, 0
        named = get_named_type(field.type)
        metadata = _metadata(field)
        default = MUTATION_FIELD_COST if root else (1 if is_composite_type(named) else 0)
        own_cost = int(metadata.get("cost", default))
        own_answers = 1 if metadata.get("budget") == ANSWERS_BUDGET else 0
        if not node.selection_set:
            return own_cost, own_answers
        multiplier = self.page_size(node, field, named)
        child_cost, child_answers = self.of(node.selection_set, named)
        return own_cost + multiplier * child_cost, own_answers + multiplier * child_answers

    def fragment(self, name: str) -> tuple[int, int]:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:
            return 0, 0
        self.visiting.add(name)
        target = self.schema.get_type(definition.type_condition.name.value)
        self.memo[name] = self.of(definition.selection_set, target)
        self.visiting.discard(name)
        return self.memo[name]


def estimate(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    *,
    default_page: int,
    max_page: int,
) -> Cost:
    """The cost of the operation the request selects (zero when there is none).

    Remembered per parsed document (the parser cache hands every request with the same text
    the same one) and per value of the page-size variables it read: the rest of the
    variables cannot change it."""
    variables = variables or {}
    objects, key = (document, schema), (operation_name, default_page, max_page)
    known = _estimates.get(objects, key)
    if known is not None:
        values = _values(variables, known.read)
        if values is not None and (cost := known.costs.get(values)) is not None:
            return cost
    cost, read = _estimate(schema, document, operation_name, variables, default_page, max_page)
    values = _values(variables, read)
    if values is None:
        return cost  # an unhashable page size (the operation will be refused anyway)
    if known is None or known.read != read:
        known = _Known(read, {})
        _estimates.put(objects, key, known)
    if len(known.costs) >= _MAX_VARIANTS:
        known.costs.clear()
    known.costs[values] = cost
    return cost


@dataclass(slots=True)
class _Known:
    read: tuple[str, ...]  # the page-size variables the estimate depends on
    costs: dict[tuple[Any, ...], Cost]  # by their values


# (document, schema), (operation name, page sizes) -> estimates by page-size variables
_estimates: IdentityMemo[_Known] = IdentityMemo(512)
_MAX_VARIANTS = 64


def _values(variables: Mapping[str, Any], names: tuple[str, ...]) -> tuple[Any, ...] | None:
    values = tuple(variables.get(name) for name in names)
    try:
        hash(values)
    except TypeError:
        return None
    return values


def _estimate(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    default_page: int,
    max_page: int,
) -> tuple[Cost, tuple[str, ...]]:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return Cost(0, 0), ()
    root_type = schema.get_root_type(operation.operation)
    estimator = _Estimator(schema, _fragments(document), variables, default_page, max_page)
    is_mutation = operation.operation is OperationType.MUTATION
    cost, answers = estimator.of(operation.selection_set, root_type, root=is_mutation)
    return Cost(cost, answers), tuple(sorted(estimator.read))
