"""Per-request dataloaders: each relation is one batched, authorised service call, never a query per list item.

Each domain defines a `RequestLoaders` subclass in its own `loaders.py`; the request's `Context` builds one of
each kind on first use, so the GraphQL plumbing knows no domain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from gateway.auth.principal import Principal
from gateway.db import AsyncSession

V = TypeVar("V")
BatchLoad = Callable[..., Awaitable[dict[int, Any]]]


def _loader(
    db: AsyncSession, actor: Principal, lock: asyncio.Lock, load: BatchLoad, keyword: str, default: V
) -> DataLoader[int, V]:
    async def batch(keys: list[int]) -> Sequence[V]:
        async with lock:  # one session per request: its queries must not overlap
            found = await load(db=db, actor=actor, **{keyword: list(dict.fromkeys(keys))})
        return [found.get(key, default) for key in keys]

    return DataLoader(load_fn=batch)


class RequestLoaders:
    """Created for each request with the caller, so every batch is authorised in the service's SQL."""

    def __init__(self, db: AsyncSession, actor: Principal | None, lock: asyncio.Lock) -> None:
        self._db = db
        self._actor = actor
        self._lock = lock
        self._built: dict[str, DataLoader[int, Any]] = {}

    def _get(self, name: str, load: BatchLoad, keyword: str, default: V) -> DataLoader[int, V]:
        """The request's loader called `name`, built on first use around `load(db=, actor=, keyword=ids)`."""
        if self._actor is None:
            raise PermissionError("loaders need an authenticated caller")
        if name not in self._built:
            self._built[name] = _loader(self._db, self._actor, self._lock, load, keyword, default)
        return self._built[name]
