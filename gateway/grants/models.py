"""Grants: an amount in whole pence paid to one provider for whole financial years, with agreed targets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["FundingSource", "Grant", "GrantTarget", "TargetMeasure", "metadata"]

UTC_DATETIME = UTCDateTime()


class FundingSource(StrEnum):
    MOJ_VICTIMS_SERVICES_GRANT = "moj-victims-services-grant"
    PCC_CORE = "pcc-core"
    OTHER = "other"


class TargetMeasure(StrEnum):
    """What a grant target measures. Counts are per quarter; shares are percentages from 0 to 100."""

    REFERRALS_RECEIVED_PER_QUARTER = "referrals-received-per-quarter"
    CASES_COMPLETED_PER_QUARTER = "cases-completed-per-quarter"
    FIRST_CONTACT_WITHIN_TARGET_SHARE = "first-contact-within-target-share"
    INFORMED_AND_EMPOWERED_IMPROVED_SHARE = "informed-and-empowered-improved-share"
    HEALTH_AND_WELLBEING_IMPROVED_SHARE = "health-and-wellbeing-improved-share"
    COPE_AND_RECOVER_IMPROVED_SHARE = "cope-and-recover-improved-share"
    FEELING_SAFER_IMPROVED_SHARE = "feeling-safer-improved-share"


class Grant(SQLModel, table=True):
    """One grant to one provider. The period is whole financial years (1 April to 31 March), reported by quarter."""

    __tablename__ = "grants"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=60, nullable=False, sa_column_kwargs={"unique": True})
    provider_organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    amount_pence: int = Field(sa_type=sa.BigInteger, nullable=False)
    # The calendar year each financial year starts in: 2026 is 1 April 2026 to 31 March 2027.
    first_financial_year: int = Field(nullable=False)
    last_financial_year: int = Field(nullable=False)
    funding_source: str = Field(max_length=40, nullable=False)
    services_funded: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    version: int = Field(default=1, nullable=False)
    created_by: str = Field(max_length=120, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class GrantTarget(SQLModel, table=True):
    """One target a provider agreed under a grant: a measure and the value it committed to."""

    __tablename__ = "grant_targets"
    __table_args__ = (sa.UniqueConstraint("grant_id", "measure"),)

    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(foreign_key="grants.id", nullable=False, index=True)
    measure: str = Field(max_length=60, nullable=False)
    value: float = Field(nullable=False)
