"""Legal holds that stop erasure, and the record of each rectification: who changed which fields and why."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["LegalHold", "Rectification", "metadata"]

UTC_DATETIME = UTCDateTime()


class LegalHold(SQLModel, table=True):
    """A hold on a victim's records (proceedings pending, say): nothing of theirs is erased while it stands."""

    __tablename__ = "legal_holds"

    id: int | None = Field(default=None, primary_key=True)
    victim_id: int = Field(foreign_key="victims.id", nullable=False, index=True)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    placed_by: str = Field(max_length=120, nullable=False)
    placed_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    lifted_by: str | None = Field(default=None, max_length=120)
    lifted_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)


class Rectification(SQLModel, table=True):
    """One correction of a victim's details: the fields' names and the reason, never the old or new values."""

    __tablename__ = "rectifications"

    id: int | None = Field(default=None, primary_key=True)
    victim_id: int = Field(foreign_key="victims.id", nullable=False, index=True)
    fields: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    rectified_by: str = Field(max_length=120, nullable=False)
    rectified_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
