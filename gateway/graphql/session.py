"""The request's one database session, as every resolver and dataloader of a GraphQL request must use it.

GraphQL resolves sibling fields concurrently (every root field of a document, every item of a list, every
dataloader batch), but a session runs one statement at a time: PostgreSQL refuses a second while one is in
flight. And graphql-core cancels a field's pending siblings when an error reaches a non-null parent, as Strawberry
cancels a dataloader batch whose callers all went away: a statement cancelled half way leaves the connection
unusable and the request's commit failing. So every use of the session goes through `run`, which:

- waits for the session to be free: one call at a time, in the order they asked;
- once started, lets the call finish even if its caller is cancelled (the cancellation is passed on after);
- refuses calls once the request has finished with the session, so nothing runs beside its commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.db import AsyncSession

T = TypeVar("T")


class SessionFinished(RuntimeError):
    """Work asked for the session after the request committed; it never ran (its answer was no longer wanted)."""


class RequestSession:
    """A request's database session, used by one call at a time, and never cut off half way."""

    def __init__(self, db: AsyncSession) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._finished = False

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work(db)` alone on the session and to its end; its caller's cancellation waits until then."""
        async with self._lock:  # a caller cancelled while waiting here has started nothing
            if self._finished:
                raise SessionFinished("the request has finished with its database session")
            running = asyncio.ensure_future(work(self._db))
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                await _until_done(running)
                if not running.cancelled():
                    # Its outcome (a NotFound, say) went unwanted with the cancelled field; collecting it keeps
                    # asyncio from logging "Task exception was never retrieved" at error level for every one.
                    running.exception()
                raise

    async def finish(self) -> None:
        """Wait for the calls already started or queued, then refuse any more: the request commits next."""
        async with self._lock:
            self._finished = True

    async def commit(self) -> None:
        """Commit what the request's calls did, once every one of them has ended."""
        await self.finish()
        await self._db.commit()

    async def rollback(self) -> None:
        await self.finish()
        await self._db.rollback()


async def _until_done(running: asyncio.Future[T]) -> None:
    """Wait for `running` to end, whatever cancels the waiter meanwhile."""
    while not running.done():
        try:
            await asyncio.wait([running])
        except asyncio.CancelledError:
            continue
