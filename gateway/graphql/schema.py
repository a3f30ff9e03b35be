"""Assembles the GraphQL schema from each domain's resolvers, with the surface limits."""

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

from gateway.directory.schema import DirectoryQuery
from gateway.grants.schema import GrantMutation, GrantQuery
from gateway.graphql.cost import QueryCostLimiter
from gateway.graphql.execution import GatewayExecutionContext
from gateway.monitoring.schema import MonitoringQuery
from gateway.referrals.schema import ReferralMutation, ReferralQuery
from gateway.restorative_justice.schema import RestorativeJusticeMutation, RestorativeJusticeQuery
from gateway.viewer.schema import ViewerQuery

log = logging.getLogger("gateway.graphql")
MAX_DEPTH = 6
MAX_ALIASES = 15
MAX_TOKENS = 1000
UNEXPECTED_ERROR_MESSAGE = "Unexpected error."


@strawberry.type
class Query(DirectoryQuery, ViewerQuery, ReferralQuery, GrantQuery, MonitoringQuery, RestorativeJusticeQuery):
    pass


@strawberry.type
class Mutation(ReferralMutation, GrantMutation, RestorativeJusticeMutation):
    pass


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


def build_schema(*, production: bool = False) -> strawberry.Schema:
    """The schema; in production introspection and field suggestions are off."""
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        extensions=_extensions(production=production),
        config=StrawberryConfig(auto_camel_case=True, disable_field_suggestions=production),
        execution_context_class=GatewayExecutionContext,
    )


def export_sdl() -> str:
    """The SDL checked in as schema.graphql."""
    return build_schema().as_str() + "\n"
