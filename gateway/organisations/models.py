"""Organisations: the Hub that refers, the providers that support, the office that commissions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["Organisation", "OrganisationRole", "metadata"]


class OrganisationRole(StrEnum):
    REFERRER = "referrer"
    PROVIDER = "provider"
    COMMISSIONER = "commissioner"


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    name: str = Field(max_length=200, nullable=False)
    # An organisation can hold several roles (the RJ hub both receives referrals and runs casework).
    roles: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    active: bool = Field(default=True, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime(), nullable=False)
