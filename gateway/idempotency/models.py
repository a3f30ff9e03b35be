"""Idempotency keys: what an organisation's earlier request with the same key produced."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["IdempotencyRecord", "metadata"]


class IdempotencyRecord(SQLModel, table=True):
    """One claimed key per organisation and operation, with a fingerprint of the request and its result's id."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "operation", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    # The public self-referral form has no organisation of its own; its keys live under the receiving Hub.
    organisation_id: int = Field(foreign_key="organisations.id", nullable=False)
    operation: str = Field(max_length=64, nullable=False)
    key: str = Field(max_length=200, nullable=False)
    request_fingerprint: str = Field(max_length=64, nullable=False)
    result_id: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime(), nullable=False)
