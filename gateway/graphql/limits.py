"""The surface limits, measured in one pass: depth, aliases, repeated fields and cost, each fragment measured once.

Strawberry's depth and alias limiters and the earlier cost rule walked a fragment again at every spread, so 20
fragments each spreading the one before twice took a million walks (13 s, with the event loop stalled). Here every
fragment is measured once, spreads first, and a spread adds its fragment's numbers: the work is linear in the
document. A spread inside a fragment cycle adds nothing (graphql-core's NoFragmentCyclesRule refuses the cycle)
and a spread of an unknown fragment adds nothing (KnownFragmentNamesRule names it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)

from gateway.graphql.cost import MAX_COST, PAGE_ARGUMENTS, list_size, page_size, report_cost

MAX_DEPTH = 6
MAX_ALIASES = 15
# graphql-core compares every two fields answering under one name, and their selections pair by pair: quadratic
# in the document, up to half a second within 1,000 tokens. Beyond this many repeats of one name in a selection set
# (inline fragments included) the document is refused first; nobody needs a field more than a few times over.
MAX_REPEATS = 10
# Selection sets nested deeper than this are refused as too deep, whatever they hold (inline fragments add no
# depth of their own); it also keeps the measuring walk's recursion short.
MAX_NESTING = 4 * MAX_DEPTH


class BudgetExceeded(Exception):
    """Validation ran past its deadline; the document is refused as too expensive to check."""


@dataclass(frozen=True, slots=True)
class Measure:
    """What a selection asks for; a selection set's is the sum of its selections' (the deepest, the most repeats)."""

    depth: int  # fields with a selection set on the longest path, as Strawberry's depth limiter counts
    aliases: int
    cost: int
    repeats: int  # the most fields answering under one name in any one selection set

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.cost + other.cost,
            max(self.repeats, other.repeats),
        )


NOTHING = Measure(0, 0, 0, 0)
TOO_DEEP = Measure(MAX_NESTING, 0, 0, 0)
# The types a paged field returns: their lists are the page's items, already counted by the page size.
_page_types: WeakKeyDictionary[GraphQLSchema, frozenset[str]] = WeakKeyDictionary()


def measure_operations(
    schema: GraphQLSchema, document: DocumentNode, *, deadline: float
) -> list[tuple[OperationDefinitionNode, Measure]]:
    """Each operation of the document with its depth, aliases, cost and repeats; raises BudgetExceeded past the
    deadline."""
    measurer = _Measurer(schema, document, deadline)
    return [
        (operation, measurer.selection_set(operation.selection_set, schema.get_root_type(operation.operation), False))
        for operation in document.definitions
        if isinstance(operation, OperationDefinitionNode)
    ]


def limit_errors(schema: GraphQLSchema, document: DocumentNode, *, deadline: float) -> list[GraphQLError]:
    """The document's refusals for depth, aliases, repeats and cost; raises BudgetExceeded past the deadline."""
    depth_errors, cost_errors, aliases, repeats = [], [], 0, 0
    for operation, measure in measure_operations(schema, document, deadline=deadline):
        name = operation.name.value if operation.name else "anonymous"
        if measure.depth > MAX_DEPTH:
            depth_errors.append(
                GraphQLError(
                    f"'{name}' exceeds maximum operation depth of {MAX_DEPTH}",
                    operation,
                    extensions={"code": "query-too-deep"},
                )
            )
        if measure.cost > MAX_COST:
            cost_errors.append(
                GraphQLError(
                    f"The query is too expensive: cost {measure.cost} exceeds {MAX_COST}.",
                    operation,
                    extensions={"code": "query-too-expensive"},
                )
            )
        aliases += measure.aliases
        repeats = max(repeats, measure.repeats)
    shape_errors = []
    if aliases > MAX_ALIASES:
        shape_errors.append(
            GraphQLError(f"{aliases} aliases found. Allowed: {MAX_ALIASES}", extensions={"code": "too-many-aliases"})
        )
    if repeats > MAX_REPEATS:
        shape_errors.append(
            GraphQLError(
                f"A field is selected {repeats} times in one selection set. Allowed: {MAX_REPEATS}",
                extensions={"code": "too-many-repeats"},
            )
        )
    return depth_errors + shape_errors + cost_errors


class _Measurer:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, deadline: float) -> None:
        self.schema = schema
        self.deadline = deadline
        self.page_types = _page_types_of(schema)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        # Each fragment measured once outside a report and once inside one, spreads before the fragments using them.
        self.measured: dict[tuple[str, bool], Measure] = {}
        for name in _spreads_first(fragments):
            fragment = fragments[name]
            on_type = schema.get_type(fragment.type_condition.name.value)
            for in_report in (False, True):
                self.measured[name, in_report] = self.selection_set(fragment.selection_set, on_type, in_report)

    def selection_set(
        self,
        node: SelectionSetNode,
        parent: GraphQLNamedType | None,
        in_report: bool,
        nesting: int = 0,
        names: Counter[str] | None = None,
    ) -> Measure:
        if nesting >= MAX_NESTING:
            return TOO_DEEP
        # The names answered at this level, shared with the inline fragments in it, which answer at the same level.
        names = Counter() if names is None else names
        total = NOTHING
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, in_report, nesting)
                names[(selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on_type = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, on_type, in_report, nesting + 1, names)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.measured.get((selection.name.value, in_report), NOTHING)
        return total + Measure(0, 0, 0, max(names.values(), default=0))

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, in_report: bool, nesting: int) -> Measure:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded
        aliases = 1 if node.alias else 0
        name = node.name.value
        fields = parent.fields if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else {}
        definition = fields.get(name)
        if node.selection_set is None:
            return Measure(0, aliases, 1, 0)
        coordinate = f"{parent.name}.{name}" if parent is not None else name
        report = None if in_report or definition is None else report_cost(node, coordinate)
        child_type = get_named_type(definition.type) if definition is not None else None
        inner = self.selection_set(node.selection_set, child_type, in_report or report is not None, nesting + 1)
        if name.startswith("__"):
            # Introspection adds no depth or cost, as Strawberry's limiter had it; production refuses it outright.
            return Measure(0, aliases + inner.aliases, 1, inner.repeats)
        if report is not None:
            cost = 1 + report + inner.cost
        elif definition is None or in_report:
            cost = 1 + inner.cost  # inside a report, lists hold the report's rows, already paid for
        else:
            size = page_size(node, definition)
            if size is None and is_list_type(get_nullable_type(definition.type)):
                size = 1 if parent is not None and parent.name in self.page_types else list_size(coordinate)
            cost = 1 + (size or 1) * inner.cost
        return Measure(1 + inner.depth, aliases + inner.aliases, cost, inner.repeats)


def _spreads_first(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """The fragments in an order where each comes after those it spreads; a spread closing a cycle is ignored."""
    spreads = {name: list(_spread_names(fragment.selection_set)) for name, fragment in fragments.items()}
    order: list[str] = []
    seen: set[str] = set()
    for root in fragments:
        if root in seen:
            continue
        seen.add(root)
        path = [(root, iter(spreads[root]))]
        while path:
            name, pending = path[-1]
            for spread in pending:
                if spread in spreads and spread not in seen:
                    seen.add(spread)
                    path.append((spread, iter(spreads[spread])))
                    break
            else:
                path.pop()
                order.append(name)
    return order


def _spread_names(selection_set: SelectionSetNode) -> Iterator[str]:
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set is not None:
                pending.append(selection.selection_set)


def _page_types_of(schema: GraphQLSchema) -> frozenset[str]:
    found = _page_types.get(schema)
    if found is None:
        found = _page_types[schema] = frozenset(
            get_named_type(field.type).name
            for named in schema.type_map.values()
            if isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
            for field in named.fields.values()
            if any(argument in field.args for argument in PAGE_ARGUMENTS)
        )
    return found
