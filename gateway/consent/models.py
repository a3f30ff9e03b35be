"""Consent to share a victim's details with named providers: a record of who, how, what, and until when."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["Consent", "ConsentMethod", "metadata"]

UTC_DATETIME = UTCDateTime()


class ConsentMethod(StrEnum):
    VERBAL = "verbal"
    WRITTEN = "written"
    ONLINE = "online"


class Consent(SQLModel, table=True):
    """One consent given by the victim or their guardian; withdrawal is recorded on it, never a deletion."""

    __tablename__ = "consents"

    id: int | None = Field(default=None, primary_key=True)
    hub_organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    victim_id: int = Field(foreign_key="victims.id", nullable=False, index=True)
    given_by: str = Field(max_length=20, nullable=False)  # victim | guardian
    method: str = Field(max_length=20, nullable=False)
    given_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)
    recorded_by: str = Field(max_length=120, nullable=False)
    recorded_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    provider_slugs: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    # VictimField values: what may be shared with the providers covered.
    data_categories: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    withheld_information: str | None = Field(default=None, sa_type=sa.Text)
    withheld_reason: str | None = Field(default=None, sa_type=sa.Text)
    # Separate from sharing: whether anonymised figures about this victim may be counted.
    statistics_consent: bool = Field(nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    withdrawn_by: str | None = Field(default=None, max_length=120)
