"""Outcome records: one per completed task, the four Ministry of Justice measures and the provider's own."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["MeasureResult", "OutcomeMeasureResult", "OutcomeRecord", "metadata"]


class MeasureResult(StrEnum):
    """How the victim answered one measure at the close of support."""

    IMPROVED = "improved"
    NOT_IMPROVED = "not-improved"
    NOT_APPLICABLE = "not-applicable"
    NOT_ASKED = "not-asked"


class OutcomeRecord(SQLModel, table=True):
    """What one completed task achieved. Holds no free text, so nothing personal can be written into it."""

    __tablename__ = "outcome_records"

    id: int | None = Field(default=None, primary_key=True)
    # One record per task: completion is recorded once, and a completed task never reopens.
    task_id: int = Field(foreign_key="referral_tasks.id", nullable=False, sa_column_kwargs={"unique": True})
    # Copied from the task so monitoring groups by provider without touching anything personal.
    provider_organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    informed_and_empowered: str = Field(max_length=20, nullable=False)
    health_and_wellbeing: str = Field(max_length=20, nullable=False)
    cope_and_recover: str = Field(max_length=20, nullable=False)
    feeling_safer: str = Field(max_length=20, nullable=False)
    baseline_score: int | None = Field(default=None)
    exit_score: int | None = Field(default=None)
    recorded_by: str = Field(max_length=120, nullable=False)
    recorded_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime(), nullable=False)


class OutcomeMeasureResult(SQLModel, table=True):
    """One provider-specific measure on an outcome record; the code is one the provider's profile declares."""

    __tablename__ = "outcome_measure_results"
    __table_args__ = (sa.UniqueConstraint("outcome_id", "measure_code"),)

    id: int | None = Field(default=None, primary_key=True)
    outcome_id: int = Field(foreign_key="outcome_records.id", nullable=False)
    measure_code: str = Field(max_length=64, nullable=False)
    result: str = Field(max_length=20, nullable=False)
