"""Restorative Justice casework: facilitators, cases, parties, meetings, conferences, agreements."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = [
    "STAGE_ORDER",
    "AccreditationLevel",
    "AgreementAction",
    "CaseNote",
    "CaseSource",
    "ClosureReason",
    "Conference",
    "ConferenceFacilitator",
    "ConferenceParticipant",
    "ConferenceStatus",
    "Facilitator",
    "HomeAgency",
    "Intervention",
    "InterventionKind",
    "Party",
    "PartyRole",
    "PreparationMeeting",
    "RiskLevel",
    "RjCase",
    "RjStage",
    "Satisfaction",
    "metadata",
]

UTC_DATETIME = UTCDateTime()


class CaseSource(StrEnum):
    HUB_TASK = "hub-task"
    OFFICER = "officer"
    OTHER_AGENCY = "other-agency"
    SELF_REFERRAL = "self-referral"


class RjStage(StrEnum):
    REFERRAL_RECEIVED = "referral-received"
    INITIAL_CONTACT = "initial-contact"
    ASSESSMENT = "assessment"
    PREPARATION = "preparation"
    INTERVENTION = "intervention"
    OUTCOME_AGREEMENT = "outcome-agreement"
    FOLLOW_UP = "follow-up"
    CLOSED = "closed"


STAGE_ORDER: tuple[RjStage, ...] = tuple(RjStage)


class FacilitatorRole(StrEnum):
    """A facilitator's part in a case."""

    LEAD = "lead"
    CO_FACILITATOR = "co-facilitator"


class PartyRole(StrEnum):
    HARMED = "harmed"
    RESPONSIBLE = "responsible"
    SUPPORTER = "supporter"


class InterventionKind(StrEnum):
    DIRECT_CONFERENCE = "direct-conference"
    SHUTTLE_MESSAGE = "shuttle-message"
    LETTER_OF_EXPLANATION = "letter-of-explanation"


class ConferenceStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    HELD = "held"


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"
    NEITHER = "neither"
    DISSATISFIED = "dissatisfied"
    DECLINED_TO_SAY = "declined-to-say"


class ClosureReason(StrEnum):
    COMPLETED = "completed"
    HARMED_WITHDREW = "harmed-withdrew"
    RESPONSIBLE_WITHDREW = "responsible-withdrew"
    UNSUITABLE = "unsuitable"
    UNABLE_TO_CONTACT = "unable-to-contact"


class RiskLevel(StrEnum):
    """The assessed risk of bringing the parties together."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class HomeAgency(StrEnum):
    """The agency a facilitator works for; the RJ hub is multi-agency."""

    POLICE = "police"
    PROBATION_SERVICE = "probation-service"
    YOUTH_JUSTICE_SERVICE = "youth-justice-service"
    PRISON_SERVICE = "prison-service"
    VICTIM_SERVICES = "victim-services"
    RJ_HUB = "rj-hub"
    VOLUNTEER = "volunteer"
    OTHER = "other"


class AccreditationLevel(StrEnum):
    """How far a facilitator is accredited: complex and sensitive cases need the highest."""

    TRAINEE = "trainee"
    PRACTITIONER = "practitioner"
    ACCREDITED_PRACTITIONER = "accredited-practitioner"
    COMPLEX_AND_SENSITIVE = "complex-and-sensitive"


# Free text (reasons, safe-contact notes, case notes) is bounded in one place so columns and services agree.
NOTES_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 1000


class Facilitator(SQLModel, table=True):
    """A trained facilitator: a signed-in user of the RJ hub, from a home agency, accredited until a date."""

    __tablename__ = "rj_facilitators"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    user_id: int = Field(foreign_key="users.id", nullable=False, sa_column_kwargs={"unique": True})
    # How the co-ordinator knows them: staff accounts carry only an e-mail address.
    display_name: str = Field(max_length=120, nullable=False)
    home_agency: str = Field(max_length=120, nullable=False)
    accreditation_level: str = Field(max_length=60, nullable=False)
    accreditation_expires_on: date = Field(nullable=False)
    # Only a sha256 of the calendar-feed token is kept; the token itself is shown once when rotated.
    feed_token_hash: str | None = Field(default=None, max_length=64, sa_column_kwargs={"unique": True})
    feed_token_rotated_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class RjCase(SQLModel, table=True):
    """One restorative justice case. Its reference is a year and a number, never personal data."""

    __tablename__ = "rj_cases"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, nullable=False, sa_column_kwargs={"unique": True})
    organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    source: str = Field(max_length=20, nullable=False)
    # One case per accepted RJ-hub task, so a retried or repeated creation cannot fork the casework.
    task_id: int | None = Field(default=None, foreign_key="referral_tasks.id", sa_column_kwargs={"unique": True})
    crime_category: str = Field(max_length=40, nullable=False)
    sensitive: bool = Field(nullable=False)
    stage: str = Field(max_length=30, nullable=False, index=True)
    # A party's withdrawal halts the case: nothing moves forward until it is closed.
    halted_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    lead_facilitator_id: int | None = Field(default=None, foreign_key="rj_facilitators.id", index=True)
    co_facilitator_id: int | None = Field(default=None, foreign_key="rj_facilitators.id", index=True)

    initial_contact_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    assessed_suitable: bool | None = Field(default=None)
    risk_level: str | None = Field(default=None, max_length=20)
    assessed_by: str | None = Field(default=None, max_length=120)
    assessed_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    # The case supervisor's approval of a sensitive case's assessment; never the assessor themselves.
    approved_by: str | None = Field(default=None, max_length=120)
    approved_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    intervention_kind: str | None = Field(default=None, max_length=30)
    intervention_delivered_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    agreement_recorded_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    agreement_completed_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    follow_up_due_on: date | None = Field(default=None)
    follow_up_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    harmed_satisfaction: str | None = Field(default=None, max_length=20)
    closure_reason: str | None = Field(default=None, max_length=30)
    closed_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)

    created_by: str = Field(max_length=120, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class Party(SQLModel, table=True):
    """A person harmed, a person responsible or a supporter, with only the contact details RJ needs."""

    __tablename__ = "rj_parties"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="rj_cases.id", nullable=False, index=True)
    role: str = Field(max_length=20, nullable=False)
    supports_party_id: int | None = Field(default=None, foreign_key="rj_parties.id")
    given_name: str = Field(max_length=100, nullable=False)
    family_name: str = Field(max_length=100, nullable=False)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    safe_contact_notes: str | None = Field(default=None, max_length=NOTES_MAX_LENGTH)
    consent_given_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    consent_method: str | None = Field(default=None, max_length=20)
    willing: bool = Field(default=False, nullable=False)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class PreparationMeeting(SQLModel, table=True):
    """A logged preparation meeting with one party."""

    __tablename__ = "rj_preparation_meetings"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="rj_cases.id", nullable=False, index=True)
    party_id: int = Field(foreign_key="rj_parties.id", nullable=False, index=True)
    held_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)
    recorded_by: str = Field(max_length=120, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class Intervention(SQLModel, table=True):
    """One delivered piece of the intervention: a held conference, a shuttle message or a letter."""

    __tablename__ = "rj_interventions"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="rj_cases.id", nullable=False, index=True)
    kind: str = Field(max_length=30, nullable=False)
    conference_id: int | None = Field(default=None, foreign_key="rj_conferences.id")
    delivered_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)
    recorded_by: str = Field(max_length=120, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class AgreementAction(SQLModel, table=True):
    """One action of an outcome agreement: what, which party owns it, by when, and whether it was done."""

    __tablename__ = "rj_agreement_actions"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="rj_cases.id", nullable=False, index=True)
    description: str = Field(max_length=500, nullable=False)
    owner_party_id: int = Field(foreign_key="rj_parties.id", nullable=False)
    due_on: date = Field(nullable=False)
    done_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class Conference(SQLModel, table=True):
    """A booked face-to-face or video conference: a half-open interval [starts_at, ends_at)."""

    __tablename__ = "rj_conferences"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="rj_cases.id", nullable=False, index=True)
    starts_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False, index=True)
    ends_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False, index=True)
    # Null for a video call; otherwise compared case- and space-insensitively for venue clashes.
    venue: str | None = Field(default=None, max_length=200)
    venue_key: str | None = Field(default=None, max_length=200, index=True)
    video_call: bool = Field(nullable=False)
    status: str = Field(max_length=20, nullable=False, index=True)
    status_reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)
    # A conference that had already happened when it was entered: booked and held in one step, after the fact.
    recorded_afterwards: bool = Field(default=False, nullable=False)
    # Bumped on every reschedule so calendar clients see the change (iCalendar SEQUENCE).
    sequence: int = Field(default=0, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class ConferenceParticipant(SQLModel, table=True):
    __tablename__ = "rj_conference_participants"

    conference_id: int = Field(foreign_key="rj_conferences.id", primary_key=True)
    party_id: int = Field(foreign_key="rj_parties.id", primary_key=True, index=True)
    attended: bool | None = Field(default=None)


class ConferenceFacilitator(SQLModel, table=True):
    __tablename__ = "rj_conference_facilitators"

    conference_id: int = Field(foreign_key="rj_conferences.id", primary_key=True)
    facilitator_id: int = Field(foreign_key="rj_facilitators.id", primary_key=True, index=True)


class CaseNote(SQLModel, table=True):
    """A note on a case: who wrote it, when, and what. Personal data: read and written under audit, never fed out."""

    __tablename__ = "rj_case_notes"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="rj_cases.id", nullable=False, index=True)
    text: str = Field(max_length=NOTES_MAX_LENGTH, nullable=False)
    written_by: str = Field(max_length=120, nullable=False)
    written_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
