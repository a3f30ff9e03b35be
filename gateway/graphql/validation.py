"""Validation of every request before any resolver runs, within a time budget.

In order, each step only when the one before found nothing:

1. the surface limits (depth, aliases, cost: gateway/graphql/limits.py), linear in the document, so a document
   built to be expensive is refused before graphql-core's own rules look at it;
2. graphql-core's rules with Strawberry's and ours (no NUL character in a string literal, introspection off in
   production), with suggestions ("Did you mean ...?") hidden in production, where they would describe the schema;
3. the variables, which change with every request: no NUL character in any text (PostgreSQL cannot store it) and
   no list longer than any input needs.

The outcome of steps 1 and 2 depends on the document alone and is kept in a bounded cache keyed by its text.
Both run against a deadline, checked at every node visited: a document that reaches it is refused as too
expensive and is not cached (the next try may be on a quieter machine).
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    Node,
    StringValueNode,
    ValidationRule,
    validate,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from gateway.graphql.limits import BudgetExceeded, limit_errors

# A backstop, not the defence: the limits pass is linear, so a legitimate document validates in milliseconds.
# It is wall time, and a garbage collection or a busy core can stall a request for a few hundred milliseconds
# (a 0.5 s budget refused an ordinary createReferral under the test suite's load), so it leaves room for that.
VALIDATION_BUDGET_SECONDS = 2.0
# No input of the schema holds more than a few dozen items; a longer list in the variables is refused whole.
MAX_INPUT_LIST_ITEMS = 100
CACHE_SIZE = 512
NUL = "\x00"
NUL_MESSAGE = "Text must not contain the NUL character (U+0000)."

_deadline: ContextVar[float] = ContextVar("validation_deadline")


class NoNulCharacterRule(ValidationRule):
    """Refuses a string literal holding U+0000, which PostgreSQL cannot store and no field needs."""

    def enter_string_value(self, node: StringValueNode, *_args: object) -> None:
        if NUL in node.value:
            self.report_error(GraphQLError(NUL_MESSAGE, node, extensions={"code": "validation"}))


class DeadlineRule(ValidationRule):
    """Stops graphql-core's rules once the request's validation deadline has passed."""

    def enter(self, node: Node, *_args: object) -> None:
        if time.monotonic() > _deadline.get():
            raise BudgetExceeded


class DocumentChecks:
    """The checks that depend on the document alone, for one schema, cached by the document's text."""

    def __init__(
        self,
        *,
        extra_rules: Sequence[type[ASTValidationRule]],
        hide_suggestions: bool,
        budget_seconds: float = VALIDATION_BUDGET_SECONDS,
    ) -> None:
        self.extra_rules: tuple[type[ASTValidationRule], ...] = (
            MaybeNullValidationRule,
            OneOfInputValidationRule,
            NoNulCharacterRule,
            *extra_rules,
        )
        self.hide_suggestions = hide_suggestions
        self.budget_seconds = budget_seconds
        self._cache: OrderedDict[bytes, list[GraphQLError]] = OrderedDict()

    def errors(self, execution_context: ExecutionContext) -> list[GraphQLError]:
        query = execution_context.query
        key = hashlib.sha256(query.encode("utf-8", "surrogatepass")).digest() if isinstance(query, str) else None
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        try:
            errors = self._validate(execution_context)
        except BudgetExceeded:
            return [budget_error()]
        if key is not None:
            self._cache[key] = errors
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return errors

    def _validate(self, execution_context: ExecutionContext) -> list[GraphQLError]:
        # The deadline bounds the work of validating this document. A cyclic-garbage collection that its
        # allocations happen to trigger is work on the whole process's heap, not on this document: in a long-lived
        # process one took over 2 s and refused an ordinary query (the test suite's process, after 1,500 tests).
        # Validation allocates a bounded amount (the token limit), so the collector waits until it has finished.
        collecting = gc.isenabled()
        gc.disable()
        try:
            deadline = time.monotonic() + self.budget_seconds
            schema, document = execution_context.schema._schema, execution_context.graphql_document
            assert document is not None  # Strawberry validates only a parsed document
            refused = limit_errors(schema, document, deadline=deadline)
            if refused:
                return refused
            rules = (*execution_context.validation_rules, *self.extra_rules)
            return validate_by(rules, schema, document, deadline=deadline, hide_suggestions=self.hide_suggestions)
        finally:
            if collecting:
                gc.enable()


def validate_by(
    rules: Sequence[type[ASTValidationRule]],
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    deadline: float,
    hide_suggestions: bool,
) -> list[GraphQLError]:
    """graphql-core's validation by these rules; raises BudgetExceeded once a node is reached past the deadline."""
    token = _deadline.set(deadline)
    try:
        return validate(schema, document, (DeadlineRule, *rules), hide_suggestions=hide_suggestions)
    finally:
        _deadline.reset(token)


def budget_error() -> GraphQLError:
    return GraphQLError(
        "The query is too expensive: it could not be checked in time.", extensions={"code": "query-too-expensive"}
    )


class SurfaceValidation(SchemaExtension):
    """Validates the document (cached) and this request's variables, in place of Strawberry's own validation."""

    def __init__(self, checks: DocumentChecks) -> None:
        super().__init__()
        self.checks = checks

    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        errors = self.checks.errors(execution_context) or variable_errors(execution_context.variables)
        # Set, even when empty: Strawberry then skips its own validation, which would repeat the work uncached.
        execution_context.pre_execution_errors = errors
        yield


def variable_errors(variables: object) -> list[GraphQLError]:
    """Refusals for the variables: text holding NUL, lists longer than any input needs."""
    pending = [variables]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if NUL in value:
                return [GraphQLError(NUL_MESSAGE, extensions={"code": "validation"})]
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            if len(value) > MAX_INPUT_LIST_ITEMS:
                return [
                    GraphQLError(
                        f"A list in the variables holds more than {MAX_INPUT_LIST_ITEMS} items.",
                        extensions={"code": "validation"},
                    )
                ]
            pending.extend(value)
    return []
