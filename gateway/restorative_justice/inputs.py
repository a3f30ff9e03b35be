"""GraphQL inputs for RJ casework. They never carry a stage, an organisation or who approved: services set those."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from gateway.graphql.ids import choice, record_id
from gateway.restorative_justice.models import PartyRole
from gateway.restorative_justice.service import ActionInput, ConferenceBooking, PartyInput

__all__ = [
    "AddRjPartyInput",
    "AgreementActionInput",
    "AssignRjFacilitatorsInput",
    "CloseRjCaseInput",
    "CreateRjCaseFromTaskInput",
    "CreateRjCaseInput",
    "MarkRjActionDoneInput",
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
    user_id: strawberry.ID
    home_agency: str
    accreditation_level: str
    accreditation_expires_on: date
    idempotency_key: str


@strawberry.input
class RenewRjAccreditationInput:
    facilitator_id: strawberry.ID
    accreditation_level: str
    accreditation_expires_on: date
    idempotency_key: str


@strawberry.input
class CreateRjCaseFromTaskInput:
    task_id: strawberry.ID
    idempotency_key: str
    marked_sensitive: bool = False


@strawberry.input(description="A case referred by an officer, another agency, or the person themselves.")
class CreateRjCaseInput:
    source: str = strawberry.field(description="officer, other-agency or self-referral")
    crime_category: str
    idempotency_key: str
    marked_sensitive: bool = False


@strawberry.input
class AddRjPartyInput:
    case_id: strawberry.ID
    role: str = strawberry.field(description="harmed, responsible or supporter")
    given_name: str
    family_name: str
    idempotency_key: str
    phone: str | None = None
    email: str | None = None
    safe_contact_notes: str | None = None
    supports_party_id: strawberry.ID | None = None

    def values(self) -> PartyInput:
        return PartyInput(
            role=choice(PartyRole, self.role, "party role"),
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
    method: str = strawberry.field(description="verbal, written or online")
    willing: bool
    idempotency_key: str


@strawberry.input
class RjPartyChangeInput:
    party_id: strawberry.ID
    idempotency_key: str


@strawberry.input
class AssignRjFacilitatorsInput:
    case_id: strawberry.ID
    lead_facilitator_id: strawberry.ID
    idempotency_key: str
    co_facilitator_id: strawberry.ID | None = None


@strawberry.input
class RjCaseStepInput:
    case_id: strawberry.ID
    idempotency_key: str


@strawberry.input
class RecordRjInitialContactInput:
    case_id: strawberry.ID
    contacted_at: datetime
    idempotency_key: str


@strawberry.input
class RecordRjAssessmentInput:
    case_id: strawberry.ID
    suitable: bool
    risk_level: str
    idempotency_key: str


@strawberry.input
class RecordRjPreparationMeetingInput:
    case_id: strawberry.ID
    party_id: strawberry.ID
    held_at: datetime
    idempotency_key: str


@strawberry.input
class RecordRjInterventionInput:
    case_id: strawberry.ID
    kind: str = strawberry.field(description="direct-conference, shuttle-message or letter-of-explanation")
    delivered_at: datetime
    idempotency_key: str
    conference_id: strawberry.ID | None = None


@strawberry.input
class AgreementActionInput:
    description: str
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
    idempotency_key: str


@strawberry.input
class MarkRjActionDoneInput:
    action_id: strawberry.ID
    idempotency_key: str


@strawberry.input
class ScheduleRjFollowUpInput:
    case_id: strawberry.ID
    follow_up_on: date
    idempotency_key: str


@strawberry.input
class RecordRjFollowUpInput:
    case_id: strawberry.ID
    harmed_satisfaction: str = strawberry.field(description="satisfied, neither, dissatisfied or declined-to-say")
    idempotency_key: str


@strawberry.input
class CloseRjCaseInput:
    case_id: strawberry.ID
    reason: str = strawberry.field(
        description="completed, harmed-withdrew, responsible-withdrew, unsuitable or unable-to-contact"
    )
    idempotency_key: str


@strawberry.input
class ScheduleRjConferenceInput:
    case_id: strawberry.ID
    starts_at: datetime
    duration_minutes: int
    party_ids: list[strawberry.ID]
    idempotency_key: str
    venue: str | None = None
    video_call: bool = False
    facilitator_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Defaults to the case's lead and co-facilitator."
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
    starts_at: datetime
    duration_minutes: int
    reason: str
    idempotency_key: str


@strawberry.input
class RjConferenceChangeInput:
    conference_id: strawberry.ID
    reason: str
    idempotency_key: str


@strawberry.input
class RecordRjAttendanceInput:
    conference_id: strawberry.ID
    attended_party_ids: list[strawberry.ID]
    idempotency_key: str
