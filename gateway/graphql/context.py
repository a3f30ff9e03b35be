"""The per-request context every resolver receives."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import Request
from strawberry.types import Info as StrawberryInfo

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.referrals.loaders import ReferralLoaders
from gateway.settings import Settings


@dataclass(slots=True)
class Context:
    request: Request
    settings: Settings
    db: AsyncSession
    principal: Principal | None
    loaders: ReferralLoaders
    # GraphQL resolves sibling fields concurrently; the request's one session must see one query at a time.
    db_lock: asyncio.Lock


Info = StrawberryInfo[Context, None]
