"""Counters of requests per key and fixed window, in the database so every worker counts the same requests."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, metadata

__all__ = ["ThrottleCounter", "metadata"]


class ThrottleCounter(SQLModel, table=True):
    """How many requests one key has made in one window; a row outlives its window only until the next prune."""

    __tablename__ = "throttle_counters"

    # A keyed hash of what is counted (a network, a challenge), never a caller's address: see throttles.service.
    key: str = Field(max_length=100, primary_key=True)
    window_start: datetime = Field(sa_type=UTCDateTime(), primary_key=True)
    hits: int = Field(nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False, index=True)
