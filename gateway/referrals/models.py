"""Cases, referrals, one task per provider, contact attempts, and the self-referral intake queue."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = [
    "ALLOWED_TRANSITIONS",
    "OPEN_STATUSES",
    "TERMINAL_STATUSES",
    "ArrivalRoute",
    "CancelReason",
    "Case",
    "ContactAttempt",
    "ContactMethod",
    "ContactResult",
    "DomesticAbuseRisk",
    "FailReason",
    "IntakeStatus",
    "Referral",
    "ReferralTask",
    "RejectReason",
    "SelfReferral",
    "TaskStatus",
    "metadata",
]

UTC_DATETIME = UTCDateTime()


class ArrivalRoute(StrEnum):
    OFFICER_NEEDS_ASSESSMENT = "officer-needs-assessment"
    SELF_REFERRAL = "self-referral"
    OTHER_AGENCY = "other-agency"


class DomesticAbuseRisk(StrEnum):
    NONE = "none"
    STANDARD = "standard"
    MEDIUM = "medium"
    HIGH = "high"


class TaskStatus(StrEnum):
    """The HL7 Gravity referral task states."""

    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    FAILED = "failed"
    ENTERED_IN_ERROR = "entered-in-error"


# Entered-in-error is reachable from every state (hub supervisor only) and is checked apart from this table.
ALLOWED_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.DRAFT: frozenset({TaskStatus.REQUESTED}),
    TaskStatus.REQUESTED: frozenset({TaskStatus.ACCEPTED, TaskStatus.REJECTED, TaskStatus.CANCELLED}),
    TaskStatus.ACCEPTED: frozenset(
        {TaskStatus.IN_PROGRESS, TaskStatus.ON_HOLD, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    # Work that has started ends the way accepted work does; on hold it must resume before it completes.
    TaskStatus.IN_PROGRESS: frozenset(
        {TaskStatus.ON_HOLD, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.ON_HOLD: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.FAILED, TaskStatus.CANCELLED}),
    TaskStatus.REJECTED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.ENTERED_IN_ERROR: frozenset(),
}
TERMINAL_STATUSES = frozenset(status for status, targets in ALLOWED_TRANSITIONS.items() if not targets)
# Sent to the provider and not yet finished: what withdrawal cancels and what can run overdue.
OPEN_STATUSES = frozenset({TaskStatus.REQUESTED, TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS, TaskStatus.ON_HOLD})


class RejectReason(StrEnum):
    NOT_ELIGIBLE = "not-eligible"
    NO_CAPACITY = "no-capacity"
    OUT_OF_AREA = "out-of-area"
    DUPLICATE = "duplicate"
    INSUFFICIENT_INFORMATION = "insufficient-information"
    VICTIM_DECLINED = "victim-declined"


class CancelReason(StrEnum):
    CONSENT_WITHDRAWN = "consent-withdrawn"
    VICTIM_REQUEST = "victim-request"
    REFERRED_ELSEWHERE = "referred-elsewhere"


class FailReason(StrEnum):
    UNABLE_TO_CONTACT = "unable-to-contact"


class ContactMethod(StrEnum):
    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    LETTER = "letter"
    VISIT = "visit"


class ContactResult(StrEnum):
    NO_ANSWER = "no-answer"
    VOICEMAIL_LEFT = "voicemail-left"
    MESSAGE_SENT = "message-sent"
    WRONG_NUMBER = "wrong-number"
    NOT_SAFE_TO_TALK = "not-safe-to-talk"
    CONTACT_MADE = "contact-made"
    DECLINED = "declined"


class IntakeStatus(StrEnum):
    NEW = "new"
    REFERRAL_CREATED = "referral-created"
    CLOSED = "closed"


class Case(SQLModel, table=True):
    """What happened and what the victim needs, held apart from who they are."""

    __tablename__ = "cases"

    id: int | None = Field(default=None, primary_key=True)
    hub_organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    victim_id: int = Field(foreign_key="victims.id", nullable=False, index=True)
    arrival_route: str = Field(max_length=40, nullable=False)
    # Support never depends on reporting (EU Victims' Directive arts. 8-9), so the reference is optional.
    reported_to_police: bool = Field(nullable=False)
    crime_reference: str | None = Field(default=None, max_length=40)
    crime_category: str = Field(max_length=40, nullable=False)
    domestic_abuse_risk: str = Field(max_length=20, nullable=False)
    priority_most_serious_crime: bool = Field(default=False, nullable=False)
    priority_persistently_targeted: bool = Field(default=False, nullable=False)
    priority_vulnerable_or_intimidated: bool = Field(default=False, nullable=False)
    needs: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    assessment_notes: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class Referral(SQLModel, table=True):
    """The Hub's referral of one case, carrying one task per provider."""

    __tablename__ = "referrals"

    id: int | None = Field(default=None, primary_key=True)
    # Human-readable, e.g. REF-2026-000123: a year and a number, never personal data.
    reference: str = Field(max_length=40, nullable=False, sa_column_kwargs={"unique": True})
    hub_organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False, index=True)
    victim_id: int = Field(foreign_key="victims.id", nullable=False, index=True)
    created_by: str = Field(max_length=120, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class ReferralTask(SQLModel, table=True):
    """One provider's part of a referral, moving through the task lifecycle under optimistic concurrency."""

    __tablename__ = "referral_tasks"
    # Monitoring counts tasks by the day each event happened; on PostgreSQL the included columns let it read
    # the quarter from the index alone (the names are the ones index=True would give).
    __table_args__ = (
        sa.Index(
            "ix_referral_tasks_requested_at",
            "requested_at",
            postgresql_include=["provider_organisation_id", "victim_id", "consent_id", "status"],
        ),
        sa.Index(
            "ix_referral_tasks_closed_at", "closed_at", postgresql_include=["id", "provider_organisation_id", "status"]
        ),
        sa.Index(
            "ix_referral_tasks_first_contact_at",
            "first_contact_at",
            postgresql_include=["requested_at", "provider_organisation_id", "status"],
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=80, nullable=False, sa_column_kwargs={"unique": True})
    referral_id: int = Field(foreign_key="referrals.id", nullable=False, index=True)
    # Both owners are copied onto the task so every ownership check is one WHERE on one table.
    hub_organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    provider_organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    provider_slug: str = Field(max_length=64, nullable=False)
    victim_id: int = Field(foreign_key="victims.id", nullable=False, index=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False)

    status: str = Field(max_length=20, nullable=False, index=True)
    status_reason: str | None = Field(default=None, max_length=40)
    version: int = Field(default=1, nullable=False)
    # Re-routing or reopening never revives a finished task; the new task points at the old one.
    replaces_task_id: int | None = Field(default=None, foreign_key="referral_tasks.id")

    consent_id: int | None = Field(default=None, foreign_key="consents.id")
    safeguarding_override: bool = Field(default=False, nullable=False)
    override_justification: str | None = Field(default=None, sa_type=sa.Text)
    override_by: str | None = Field(default=None, max_length=120)

    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    requested_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    accept_due_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME, index=True)
    first_contact_due_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME, index=True)
    accepted_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME, index=True)
    closed_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)

    # Sub-status: what the provider has done within a state.
    viewed_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    first_contact_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    appointment_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    waitlisted: bool = Field(default=False, nullable=False)


class ContactAttempt(SQLModel, table=True):
    """One try at reaching the victim: when, how, and what happened."""

    __tablename__ = "contact_attempts"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="referral_tasks.id", nullable=False, index=True)
    attempted_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)
    method: str = Field(max_length=20, nullable=False)
    result: str = Field(max_length=30, nullable=False)
    recorded_by: str = Field(max_length=120, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class SelfReferral(SQLModel, table=True):
    """A victim's own request for support, waiting in the Hub's queue until a co-ordinator triages it."""

    __tablename__ = "self_referrals"

    id: int | None = Field(default=None, primary_key=True)
    # Random, so it reveals neither volume nor order; the only thing the submitter is told.
    confirmation_reference: str = Field(max_length=20, nullable=False, sa_column_kwargs={"unique": True})
    hub_organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    status: str = Field(max_length=20, nullable=False, index=True)

    given_name: str = Field(max_length=100, nullable=False)
    family_name: str = Field(max_length=100, nullable=False)
    date_of_birth: date | None = Field(default=None)
    address: str | None = Field(default=None, max_length=500)
    postcode: str | None = Field(default=None, max_length=12)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    safe_phone: str | None = Field(default=None, max_length=32)
    safe_times: str | None = Field(default=None, max_length=200)
    voicemail_safe: bool = Field(default=False, nullable=False)
    letters_safe: bool = Field(default=False, nullable=False)
    perpetrator_shares_address: bool = Field(default=False, nullable=False)
    language: str | None = Field(default=None, max_length=60)
    interpreter_needed: bool = Field(default=False, nullable=False)
    consent_to_contact: bool = Field(nullable=False)
    reported_to_police: bool | None = Field(default=None)
    crime_category: str | None = Field(default=None, max_length=40)
    needs: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    what_happened: str | None = Field(default=None, sa_type=sa.Text)

    received_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    triaged_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    triaged_by: str | None = Field(default=None, max_length=120)
    close_reason: str | None = Field(default=None, max_length=40)
    referral_id: int | None = Field(default=None, foreign_key="referrals.id")
