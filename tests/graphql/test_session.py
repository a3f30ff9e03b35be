"""The request session lets a started call finish when its field is cancelled, and collects what it raised."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from gateway.db import AsyncSession
from gateway.errors import NotFound
from gateway.graphql.session import RequestSession


async def test_a_cancelled_callers_work_finishes_and_its_refusal_is_collected(
    db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a call on the session that is running when its caller is cancelled, and then refuses
    session = RequestSession(db)
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def refusing(_db: AsyncSession) -> None:
        started.set()
        await release.wait()
        finished.append(True)
        raise NotFound()

    caller = asyncio.ensure_future(session.run(refusing))
    await started.wait()

    # When graphql-core cancels the caller (a failed sibling field) and the work then ends in a refusal
    caller.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller

    # Then the work ran to its end, and nothing reports an exception nobody retrieved
    assert finished == [True]
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
        await asyncio.sleep(0)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    # And the session still serves the next call
    assert await session.run(lambda _db: asyncio.sleep(0, result=7)) == 7
