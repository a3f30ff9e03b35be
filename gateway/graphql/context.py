"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from starlette.requests import Request
from strawberry.types import Info as StrawberryInfo

from gateway.auth.principal import Principal
from gateway.graphql.loaders import RequestLoaders
from gateway.graphql.session import RequestSession
from gateway.settings import Settings

L = TypeVar("L", bound=RequestLoaders)


@dataclass(slots=True)
class Context:
    request: Request
    settings: Settings
    # The request's one database session, reached only through `session.run`: GraphQL resolves sibling fields
    # concurrently, and the session must see one statement at a time, each to its end.
    session: RequestSession
    principal: Principal | None
    _loaders: dict[type[RequestLoaders], RequestLoaders] = field(default_factory=dict)

    def loaders(self, kind: type[L]) -> L:
        """The request's loaders of one domain, built on first use with this request's caller and session."""
        found = self._loaders.get(kind)
        if found is None:
            found = self._loaders[kind] = kind(self.session, self.principal)
        return found  # type: ignore[return-value]


Info = StrawberryInfo[Context, None]
