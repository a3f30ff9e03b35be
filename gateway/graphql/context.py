"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from strawberry.types import Info as StrawberryInfo

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.settings import Settings


@dataclass(slots=True)
class Context:
    request: Request
    settings: Settings
    db: AsyncSession
    principal: Principal | None


Info = StrawberryInfo[Context, None]
