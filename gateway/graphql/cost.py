"""A query-cost limit: each field costs one, multiplied by the page size of every list above it.

Depth, alias and token limits bound the shape of a query; cost bounds the work it asks for. A page of 50
tasks each with its contact attempts costs 50 x (fields per task + 50 x fields per attempt), so a query
that fans out too wide is refused before any resolver runs.
"""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import AddValidationRules

MAX_COST = 5000
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
PAGE_ARGUMENTS = ("first", "limit")


class QueryCostLimiter(AddValidationRules):
    """Refuses an operation whose cost exceeds the limit, during validation, so no resolver runs."""

    def __init__(self, max_cost: int = MAX_COST) -> None:
        super().__init__([_cost_rule(max_cost)])


def _cost_rule(max_cost: int) -> type[ValidationRule]:
    class QueryCostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
            fragments = {
                d.name.value: d for d in self.context.document.definitions if isinstance(d, FragmentDefinitionNode)
            }
            cost = _selection_cost(node.selection_set, fragments, set())
            if cost > max_cost:
                self.report_error(GraphQLError(f"The query is too expensive: cost {cost} exceeds {max_cost}."))

    return QueryCostRule


def _page_size(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value in PAGE_ARGUMENTS:
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(1, int(value.value))
            # Variables are not known during validation: assume the largest page a caller may ask for.
            return MAX_PAGE_SIZE if isinstance(value, VariableNode) else DEFAULT_PAGE_SIZE
    return 1


def _selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    visiting: set[str],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            children = _selection_cost(selection.selection_set, fragments, visiting)
            total += 1 + _page_size(selection) * children
        elif isinstance(selection, InlineFragmentNode):
            total += _selection_cost(selection.selection_set, fragments, visiting)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in visiting:  # cycles are the validator's to report
                total += _selection_cost(fragments[name].selection_set, fragments, visiting | {name})
    return total
