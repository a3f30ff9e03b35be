"""The GraphQL surface every schema gets: depth, alias, cost and token limits, error masking, logging by type.

The limits themselves are gateway/graphql/limits.py and cost.py, checked by gateway/graphql/validation.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaskErrors, MaxTokensLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gateway.graphql.bounds import bound_arguments
from gateway.graphql.execution import GatewayExecutionContext
from gateway.graphql.messages import INTERNAL, public_error, submitted_values
from gateway.graphql.trusted_execution import TrustedParserCache, TrustedSurfaceValidation
from gateway.graphql.validation import DocumentChecks

log = logging.getLogger("gateway.graphql")
MAX_TOKENS = 1000
UNEXPECTED_ERROR_MESSAGE = "Unexpected error."


def is_unexpected(error: GraphQLError) -> bool:
    """Mask errors raised by code; keep the parser's and validator's, which quote only the query."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError) and not getattr(original, "public", False)


class MaskUnexpectedErrors(MaskErrors):
    """Strawberry's masking, keeping the code: a masked error is the server's fault, `internal`."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL}
        return masked


def _extensions(*, production: bool) -> list[Callable[[], SchemaExtension]]:
    # One set of document checks (and its cache) per schema; factories, never shared extension instances.
    checks = DocumentChecks(
        extra_rules=[NoSchemaIntrospectionCustomRule] if production else [], hide_suggestions=production
    )
    return [
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        # A trusted document's request takes the document parsed and validated at load (gateway/graphql/trusted.py).
        partial(TrustedParserCache, maxsize=512),
        partial(TrustedSurfaceValidation, checks),
        partial(MaskUnexpectedErrors, should_mask_error=is_unexpected, error_message=UNEXPECTED_ERROR_MESSAGE),
    ]


class GatewaySchema(strawberry.Schema):
    """Gives every error a code and a message without values; logs errors by type and path only: an exception's
    text can quote the data that caused it.

    In production graphql-core leaves suggestions out of its errors while it reads the variables too ("Did you
    mean ...?" names arguments, types and input fields); validation hides them in gateway/graphql/validation.py.
    """

    def __init__(self, *, hide_suggestions: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hide_suggestions = hide_suggestions

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        # Strawberry's one way to pass graphql-core's execute() an argument of its own; tests/graphql/test_abuse.py
        # fails ("a misspelt input field in the variables") if this stops reaching it.
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        return {**kwargs, "hide_suggestions": self.hide_suggestions}

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Rewritten in place, in the list Strawberry returns, before anything reads or logs them: graphql-core's
        # messages quote the values they refuse (gateway/graphql/messages.py).
        submitted = (
            submitted_values(execution_context.variables, execution_context.graphql_document)
            if execution_context is not None
            else frozenset()
        )
        errors[:] = [public_error(error, submitted) for error in errors]
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
    bound_arguments(query, mutation)
    return GatewaySchema(
        hide_suggestions=production,
        query=query,
        mutation=mutation,
        extensions=_extensions(production=production),
        config=StrawberryConfig(auto_camel_case=True, disable_field_suggestions=production),
        execution_context_class=GatewayExecutionContext if fast_execution else None,
    )
