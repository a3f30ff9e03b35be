"""The authenticated caller, as resolvers behind a scope check see it."""

from __future__ import annotations

from gateway.auth.principal import Principal
from gateway.graphql.context import Info


def caller(info: Info) -> Principal:
    """The principal of a request that passed a field's permission class, so it is never anonymous."""
    principal = info.context.principal
    assert principal is not None  # every field using this declares a scope, so anonymous callers never reach it
    return principal
