"""What audit tests share: the engine a test's session runs on, for sealing passes beside it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import AsyncSession


def sealing_engine(db: AsyncSession) -> AsyncEngine:
    """The engine under the test's session: a seal pass takes its own connection from it."""
    engine = db.bind
    assert isinstance(engine, AsyncEngine)
    return engine
