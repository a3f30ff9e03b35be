"""The per-request context every resolver receives."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.requests import Request
from strawberry.types import Info as StrawberryInfo

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.graphql.loaders import RequestLoaders
from gateway.settings import Settings

L = TypeVar("L", bound=RequestLoaders)


@dataclass(slots=True)
class Context:
    request: Request
    settings: Settings
    db: AsyncSession
    principal: Principal | None
    # GraphQL resolves sibling fields concurrently; the request's one session must see one query at a time.
    db_lock: asyncio.Lock
    _loaders: dict[type[RequestLoaders], RequestLoaders] = field(default_factory=dict)

    def loaders(self, kind: type[L]) -> L:
        """The request's loaders of one domain, built on first use with this request's caller and session."""
        found = self._loaders.get(kind)
        if found is None:
            found = self._loaders[kind] = kind(self.db, self.principal, self.db_lock)
        return found  # type: ignore[return-value]


Info = StrawberryInfo[Context, None]
