"""Per-request dataloaders: each relation is one batched, authorised service call, never a query per list item.

Each domain defines a `RequestLoaders` subclass in its own `loaders.py`; the request's `Context` builds one of
each kind on first use, so the GraphQL plumbing knows no domain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from gateway.auth.principal import Principal
from gateway.graphql.session import RequestSession

V = TypeVar("V")
BatchLoad = Callable[..., Awaitable[dict[int, Any]]]


class SharedLoader(DataLoader[int, V]):
    """A loader whose results, shared by every field asking for the same key, survive any one asker's end.

    Cancelling a task cancels the future it awaits: graphql-core cancelling one field's relations would cancel the
    batch's future under another field waiting for the same row (which then failed with CancelledError), and
    Strawberry cancels a batch, query and all, once every future in it is cancelled.
    """

    def load(self, key: int) -> Awaitable[V]:
        return asyncio.shield(super().load(key))

    def load_many(self, keys: Iterable[int]) -> Awaitable[list[V]]:
        # One shield for the page, not one per key: a cancelled gather would cancel every future under it.
        return asyncio.shield(asyncio.gather(*(DataLoader.load(self, key) for key in keys)))


def _loader(session: RequestSession, actor: Principal, load: BatchLoad, keyword: str, default: V) -> DataLoader[int, V]:
    async def batch(keys: list[int]) -> Sequence[V]:
        wanted = {keyword: list(dict.fromkeys(keys))}
        found = await session.run(lambda db: load(db=db, actor=actor, **wanted))
        return [found.get(key, default) for key in keys]

    return SharedLoader(load_fn=batch)


class RequestLoaders:
    """Created for each request with the caller, so every batch is authorised in the service's SQL."""

    def __init__(self, session: RequestSession, actor: Principal | None) -> None:
        self._session = session
        self._actor = actor
        self._built: dict[str, DataLoader[int, Any]] = {}

    def _get(self, name: str, load: BatchLoad, keyword: str, default: V) -> DataLoader[int, V]:
        """The request's loader called `name`, built on first use around `load(db=, actor=, keyword=ids)`."""
        if self._actor is None:
            raise PermissionError("loaders need an authenticated caller")
        if name not in self._built:
            self._built[name] = _loader(self._session, self._actor, load, keyword, default)
        return self._built[name]
