"""Function-level authorisation for GraphQL fields: deny by default, one scope per field."""

from __future__ import annotations

from functools import cache
from typing import Any

from strawberry.permission import BasePermission

from gateway.auth.principal import Principal, Scope
from gateway.graphql.context import Info


class CallerPermission(BasePermission):
    """A permission decided by the caller alone, never by the object or the arguments.

    The same answer holds for every field of a request that declares it, which lets the execution context
    (gateway/graphql/execution.py) decide it once per request and field instead of once per item of a page.
    """

    def allows(self, principal: Principal | None) -> bool:
        raise NotImplementedError

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return self.allows(info.context.principal)


class Public(CallerPermission):
    """Declares a field deliberately open to anonymous callers (only the public provider directory)."""

    message = "public"

    def allows(self, principal: Principal | None) -> bool:
        return True


class Authenticated(CallerPermission):
    """Allows any caller with a valid token, whatever its scopes (only for the caller's own identity)."""

    message = "Sign in or send an access token."
    error_extensions = {"code": "unauthenticated"}

    def allows(self, principal: Principal | None) -> bool:
        return principal is not None


class ScopePermission(CallerPermission):
    """Allows a caller whose token carries `scope`; anonymous callers and others get `forbidden`."""

    scope: Scope
    message = "You are not allowed to do that."
    error_extensions = {"code": "forbidden"}

    def allows(self, principal: Principal | None) -> bool:
        return principal is not None and principal.has(self.scope)


@cache
def requires(scope: Scope) -> type[ScopePermission]:
    """The permission class for one scope; the same class each time, so schemas compare equal."""
    return type(f"Requires_{scope.name}", (ScopePermission,), {"scope": scope})


class AnyScopePermission(CallerPermission):
    """Allows a caller holding any one of `scopes` (fields both the Hub and providers use)."""

    scopes: tuple[Scope, ...]
    message = "You are not allowed to do that."
    error_extensions = {"code": "forbidden"}

    def allows(self, principal: Principal | None) -> bool:
        return principal is not None and any(principal.has(scope) for scope in self.scopes)


@cache
def requires_any(*scopes: Scope) -> type[AnyScopePermission]:
    return type(f"RequiresAny_{'_'.join(s.name for s in scopes)}", (AnyScopePermission,), {"scopes": scopes})


def declared_permissions(permission_classes: list[type[BasePermission]]) -> list[str]:
    """What a field declares, for the schema walk: 'public' or the scope values."""
    declared = []
    for permission in permission_classes:
        if permission is Public:
            declared.append("public")
        elif permission is Authenticated:
            declared.append("authenticated")
        elif issubclass(permission, ScopePermission):
            declared.append(permission.scope.value)
        elif issubclass(permission, AnyScopePermission):
            declared.append(" | ".join(s.value for s in permission.scopes))
    return declared
