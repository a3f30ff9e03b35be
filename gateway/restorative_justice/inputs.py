"""GraphQL inputs for RJ casework. They never carry a stage, an organisation or who approved: services set those."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from gateway.consent.vocabularies import ConsentMethod
from gateway.directory.vocabularies import CrimeCategory
from gateway.graphql.bounds import EMAIL, KEY, NAME, NOTE, PHONE, SHORT_TEXT, bounded
from gateway.graphql.ids import record_id
from gateway.restorative_justice.models import REASON_MAX_LENGTH
from gateway.restorative_justice.service import ActionInput, ConferenceBooking, PartyInput
from gateway.restorative_justice.vocabularies import (
    AccreditationLevel,
    CaseSource,
    ClosureReason,
    HomeAgency,
    InterventionKind,
    PartyRole,
    RiskLevel,
    Satisfaction,
)

# A time given without a zone offset is read as UK local time (GMT or BST on that day), as people enter it.
UK_TIME = "A time without a zone offset is UK local time (Europe/London)."

__all__ = [
    "AddRjCaseNoteInput",
    "AddRjPartyInput",
    "AgreementActionInput",
    "AssignRjFacilitatorsInput",
    "CloseRjCaseInput",
    "CreateRjCaseFromTaskInput",
    "CreateRjCaseInput",
    "MarkRjActionDoneInput",
    "RecordPastRjConferenceInput",
    "RecordRjAssessmentInput",
    "RecordRjAttendanceInput",
    "RecordRjFollowUpInput",
    "RecordRjInitialContactInput",
    "RecordRjInterventionInput",
    "RecordRjOutcomeAgreementInput",
    "RecordRjPartyConsentInput",
    "RecordRjPreparationMeetingInput",
    "RegisterRjFacilitatorInput",
    "RenewRjAccreditationInput",
    "RescheduleRjConferenceInput",
    "RjCaseStepInput",
    "RjConferenceChangeInput",
    "RjPartyChangeInput",
    "ScheduleRjConferenceInput",
    "ScheduleRjFollowUpInput",
]


@strawberry.input
class RegisterRjFacilitatorInput:
    user_id: strawberry.ID = strawberry.field(description="One of rjFacilitatorCandidates.")
    home_agency: HomeAgency
    accreditation_level: AccreditationLevel
    accreditation_expires_on: date
    idempotency_key: str = bounded(KEY)
    name: str | None = bounded(
        120, default=None, description="How the co-ordinator knows them; defaults to their e-mail address."
    )


@strawberry.input
class RenewRjAccreditationInput:
    facilitator_id: strawberry.ID
    accreditation_level: AccreditationLevel
    accreditation_expires_on: date
    idempotency_key: str = bounded(KEY)


@strawberry.input
class CreateRjCaseFromTaskInput:
    task_id: strawberry.ID
    idempotency_key: str = bounded(KEY)
    marked_sensitive: bool = False


@strawberry.input(description="A case referred by an officer, another agency, or the person themselves.")
class CreateRjCaseInput:
    source: CaseSource = strawberry.field(
        description="OFFICER, OTHER_AGENCY or SELF_REFERRAL; HUB_TASK cases come from a task."
    )
    crime_category: CrimeCategory
    idempotency_key: str = bounded(KEY)
    marked_sensitive: bool = False


@strawberry.input
class AddRjPartyInput:
    case_id: strawberry.ID
    role: PartyRole
    given_name: str = bounded(NAME)
    family_name: str = bounded(NAME)
    idempotency_key: str = bounded(KEY)
    phone: str | None = bounded(PHONE, default=None)
    email: str | None = bounded(EMAIL, default=None)
    safe_contact_notes: str | None = bounded(NOTE, default=None)
    supports_party_id: strawberry.ID | None = None

    def values(self) -> PartyInput:
        return PartyInput(
            role=self.role,
            given_name=self.given_name,
            family_name=self.family_name,
            phone=self.phone,
            email=self.email,
            safe_contact_notes=self.safe_contact_notes,
            supports_party_id=record_id(self.supports_party_id, "party") if self.supports_party_id else None,
        )


@strawberry.input
class RecordRjPartyConsentInput:
    party_id: strawberry.ID
    method: ConsentMethod
    willing: bool
    idempotency_key: str = bounded(KEY)


@strawberry.input
class RjPartyChangeInput:
    party_id: strawberry.ID
    idempotency_key: str = bounded(KEY)


@strawberry.input
class AssignRjFacilitatorsInput:
    case_id: strawberry.ID
    lead_facilitator_id: strawberry.ID
    idempotency_key: str = bounded(KEY)
    co_facilitator_id: strawberry.ID | None = None


@strawberry.input
class RjCaseStepInput:
    case_id: strawberry.ID
    idempotency_key: str = bounded(KEY)


@strawberry.input
class RecordRjInitialContactInput:
    case_id: strawberry.ID
    contacted_at: datetime = strawberry.field(description=UK_TIME)
    idempotency_key: str = bounded(KEY)


@strawberry.input
class RecordRjAssessmentInput:
    case_id: strawberry.ID
    suitable: bool
    risk_level: RiskLevel
    idempotency_key: str = bounded(KEY)


@strawberry.input
class RecordRjPreparationMeetingInput:
    case_id: strawberry.ID
    party_id: strawberry.ID
    held_at: datetime = strawberry.field(description=UK_TIME)
    idempotency_key: str = bounded(KEY)


@strawberry.input
class RecordRjInterventionInput:
    case_id: strawberry.ID
    kind: InterventionKind
    delivered_at: datetime = strawberry.field(description=UK_TIME)
    idempotency_key: str = bounded(KEY)
    conference_id: strawberry.ID | None = None


@strawberry.input
class AgreementActionInput:
    description: str = bounded(500)
    owner_party_id: strawberry.ID
    due_on: date

    def values(self) -> ActionInput:
        return ActionInput(
            description=self.description, owner_party_id=record_id(self.owner_party_id, "party"), due_on=self.due_on
        )


@strawberry.input
class RecordRjOutcomeAgreementInput:
    case_id: strawberry.ID
    actions: list[AgreementActionInput]
    idempotency_key: str = bounded(KEY)


@strawberry.input
class MarkRjActionDoneInput:
    action_id: strawberry.ID
    idempotency_key: str = bounded(KEY)


@strawberry.input
class ScheduleRjFollowUpInput:
    case_id: strawberry.ID
    follow_up_on: date
    idempotency_key: str = bounded(KEY)


@strawberry.input
class RecordRjFollowUpInput:
    case_id: strawberry.ID
    harmed_satisfaction: Satisfaction
    idempotency_key: str = bounded(KEY)


@strawberry.input
class CloseRjCaseInput:
    case_id: strawberry.ID
    reason: ClosureReason
    idempotency_key: str = bounded(KEY)


@strawberry.input
class ScheduleRjConferenceInput:
    case_id: strawberry.ID
    starts_at: datetime = strawberry.field(description=UK_TIME)
    duration_minutes: int
    party_ids: list[strawberry.ID]
    idempotency_key: str = bounded(KEY)
    venue: str | None = bounded(SHORT_TEXT, default=None)
    video_call: bool = False
    facilitator_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Defaults to the case's lead and co-facilitator; others named are assigned to the case.",
    )

    def values(self) -> ConferenceBooking:
        return ConferenceBooking(
            starts_at=self.starts_at,
            duration_minutes=self.duration_minutes,
            venue=self.venue,
            video_call=self.video_call,
            party_ids=frozenset(record_id(p, "party") for p in self.party_ids),
            facilitator_ids=frozenset(record_id(f, "facilitator") for f in self.facilitator_ids or []),
        )


@strawberry.input
class RescheduleRjConferenceInput:
    conference_id: strawberry.ID
    starts_at: datetime = strawberry.field(description=UK_TIME)
    duration_minutes: int
    reason: str = bounded(REASON_MAX_LENGTH)
    idempotency_key: str = bounded(KEY)


@strawberry.input
class RjConferenceChangeInput:
    conference_id: strawberry.ID
    reason: str = bounded(REASON_MAX_LENGTH)
    idempotency_key: str = bounded(KEY)


@strawberry.input
class RecordRjAttendanceInput:
    conference_id: strawberry.ID
    attended_party_ids: list[strawberry.ID]
    idempotency_key: str = bounded(KEY)


@strawberry.input(description="A conference that already took place, entered afterwards with who attended.")
class RecordPastRjConferenceInput:
    case_id: strawberry.ID
    starts_at: datetime = strawberry.field(description=UK_TIME)
    duration_minutes: int
    party_ids: list[strawberry.ID]
    attended_party_ids: list[strawberry.ID]
    idempotency_key: str = bounded(KEY)
    venue: str | None = bounded(SHORT_TEXT, default=None)
    video_call: bool = False
    facilitator_ids: list[strawberry.ID] | None = None

    def values(self) -> ConferenceBooking:
        return ConferenceBooking(
            starts_at=self.starts_at,
            duration_minutes=self.duration_minutes,
            venue=self.venue,
            video_call=self.video_call,
            party_ids=frozenset(record_id(p, "party") for p in self.party_ids),
            facilitator_ids=frozenset(record_id(f, "facilitator") for f in self.facilitator_ids or []),
        )


@strawberry.input
class AddRjCaseNoteInput:
    case_id: strawberry.ID
    text: str = bounded(NOTE)
    idempotency_key: str = bounded(KEY)
