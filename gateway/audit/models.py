"""The s.62 log: one row per processing of a victim's personal data, chained by hashes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["GENESIS_HASH", "AuditCategory", "AuditEntry", "metadata"]

UTC_DATETIME = UTCDateTime()
GENESIS_HASH = "0" * 64


class AuditCategory(StrEnum):
    """The kinds of processing DPA 2018 s.62 requires to be logged."""

    COLLECTION = "collection"
    ALTERATION = "alteration"
    CONSULTATION = "consultation"
    DISCLOSURE = "disclosure"
    COMBINATION = "combination"
    ERASURE = "erasure"


class AuditEntry(SQLModel, table=True):
    """An append-only log row. It names subjects by id and never holds the data itself."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    # A gap-free position in the chain; unique so two concurrent appends can never fork it.
    sequence: int = Field(nullable=False, sa_column_kwargs={"unique": True})
    occurred_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    category: str = Field(max_length=20, nullable=False)
    action: str = Field(max_length=64, nullable=False)
    purpose: str = Field(max_length=120, nullable=False)
    # Null only for the public (self-referral); no foreign key so the log outlives what it describes.
    actor_organisation_id: int | None = Field(default=None)
    actor: str = Field(max_length=120, nullable=False)
    victim_id: int | None = Field(default=None, index=True)
    subject_ids: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    recipient_organisation_id: int | None = Field(default=None)
    safeguarding_override: bool = Field(default=False, nullable=False)
    previous_hash: str = Field(max_length=64, nullable=False)
    row_hash: str = Field(max_length=64, nullable=False)
