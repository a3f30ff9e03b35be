"""The GraphQL surface every schema gets: depth, alias, cost and token limits, error masking, logging by type."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gateway.graphql.cost import QueryCostLimiter
from gateway.graphql.execution import GatewayExecutionContext

log = logging.getLogger("gateway.graphql")
MAX_DEPTH = 6
MAX_ALIASES = 15
MAX_TOKENS = 1000
UNEXPECTED_ERROR_MESSAGE = "Unexpected error."


def is_unexpected(error: GraphQLError) -> bool:
    """Mask errors raised by code; keep the parser's and validator's, which quote only the query."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError) and not getattr(original, "public", False)


def _limit_rules(*, production: bool) -> list[type[ASTValidationRule]]:
    # Built once per schema: ValidationCache keys on the rule classes, so a class made per request never hits.
    limiters: list[AddValidationRules] = [
        QueryDepthLimiter(max_depth=MAX_DEPTH),
        MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        QueryCostLimiter(),
    ]
    if production:
        limiters.append(DisableIntrospection())
    return [rule for limiter in limiters for rule in limiter.validation_rules]


def _extensions(*, production: bool) -> list[Callable[[], SchemaExtension]]:
    # Factories, never shared instances: each request gets its own extension objects.
    return [
        partial(AddValidationRules, _limit_rules(production=production)),
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(ParserCache, maxsize=512),
        partial(ValidationCache, maxsize=512),
        partial(MaskErrors, should_mask_error=is_unexpected, error_message=UNEXPECTED_ERROR_MESSAGE),
    ]


class GatewaySchema(strawberry.Schema):
    """Logs errors by type and path only: an exception's text can quote the data that caused it."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, GraphQLError) or getattr(original, "public", False):
                continue  # the caller's own mistake (validation, permission, refusal), not the server's
            log.error(
                "unexpected error in a resolver",
                extra={"error_type": type(original).__name__, "path": [str(p) for p in error.path or ()]},
                exc_info=(type(original), original, original.__traceback__),
            )


def make_schema(*, query: type, mutation: type, production: bool, fast_execution: bool = True) -> strawberry.Schema:
    """A schema over these root types with the limits on; in production introspection and suggestions are off.

    `fast_execution` picks the gateway's direct path for plain fields; off, graphql-core executes every field.
    """
    return GatewaySchema(
        query=query,
        mutation=mutation,
        extensions=_extensions(production=production),
        config=StrawberryConfig(auto_camel_case=True, disable_field_suggestions=production),
        execution_context_class=GatewayExecutionContext if fast_execution else None,
    )
