"""The victim: identity, contact, guardian, safe contact, language and equality answers; no case data."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = [
    "PREFER_NOT_TO_SAY",
    "AgeBand",
    "ConsentGiver",
    "Disability",
    "Sex",
    "Victim",
    "metadata",
]

UTC_DATETIME = UTCDateTime()
PREFER_NOT_TO_SAY = "prefer-not-to-say"


class AgeBand(StrEnum):
    UNDER_18 = "under-18"
    FROM_18_TO_24 = "18-24"
    FROM_25_TO_34 = "25-34"
    FROM_35_TO_44 = "35-44"
    FROM_45_TO_54 = "45-54"
    FROM_55_TO_64 = "55-64"
    FROM_65 = "65-plus"
    PREFER_NOT_TO_SAY = PREFER_NOT_TO_SAY


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    PREFER_NOT_TO_SAY = PREFER_NOT_TO_SAY


class Disability(StrEnum):
    YES = "yes"
    NO = "no"
    PREFER_NOT_TO_SAY = PREFER_NOT_TO_SAY


class ConsentGiver(StrEnum):
    VICTIM = "victim"
    GUARDIAN = "guardian"


class Victim(SQLModel, table=True):
    """A person harmed by crime, as the Hub holds them. Case facts live in `cases`, apart from identity."""

    __tablename__ = "victims"

    id: int | None = Field(default=None, primary_key=True)
    # The Hub that controls this record; every read and write filters on it.
    hub_organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)

    given_name: str = Field(max_length=100, nullable=False)
    family_name: str = Field(max_length=100, nullable=False)
    date_of_birth: date | None = Field(default=None)
    address: str | None = Field(default=None, max_length=500)
    postcode: str | None = Field(default=None, max_length=12)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)

    # For a victim under 18, the parent or guardian who acts for them.
    guardian_name: str | None = Field(default=None, max_length=200)
    guardian_relationship: str | None = Field(default=None, max_length=60)
    guardian_phone: str | None = Field(default=None, max_length=32)
    guardian_email: str | None = Field(default=None, max_length=254)

    # Referrals fail when a provider phones an unsafe number: these instructions travel with the record.
    safe_phone: str | None = Field(default=None, max_length=32)
    safe_times: str | None = Field(default=None, max_length=200)
    voicemail_safe: bool = Field(default=False, nullable=False)
    letters_safe: bool = Field(default=False, nullable=False)
    perpetrator_shares_address: bool = Field(default=False, nullable=False)

    language: str | None = Field(default=None, max_length=60)
    interpreter_needed: bool = Field(default=False, nullable=False)

    # Equality monitoring is optional: None means not asked; each allows "prefer-not-to-say".
    equality_age_band: str | None = Field(default=None, max_length=20)
    equality_sex: str | None = Field(default=None, max_length=20)
    equality_ethnicity: str | None = Field(default=None, max_length=60)
    equality_disability: str | None = Field(default=None, max_length=20)

    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
