"""GraphQL shapes for RJ casework, built from rows; parties' contact details appear only in a case's detail."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, TypeVar

import strawberry

from gateway.clock import as_utc, utc_now
from gateway.consent.vocabularies import ConsentMethod
from gateway.directory.vocabularies import CrimeCategory
from gateway.graphql.results import OperationError
from gateway.restorative_justice.models import (
    AgreementAction,
    CaseNote,
    Conference,
    ConferenceParticipant,
    Facilitator,
    Intervention,
    Party,
    PreparationMeeting,
    RjCase,
)
from gateway.restorative_justice.service import CaseDetail, CaseloadEntry, FacilitatorCandidate
from gateway.restorative_justice.vocabularies import (
    AccreditationLevel,
    CaseSource,
    ClosureReason,
    ConferenceStatus,
    FacilitatorRole,
    HomeAgency,
    InterventionKind,
    PartyRole,
    RiskLevel,
    RjStage,
    Satisfaction,
)


def _maybe(kind: type[E], value: str | None) -> E | None:
    return kind(value) if value is not None else None


E = TypeVar("E", bound=StrEnum)


def _utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


@strawberry.type(name="RjCase", description="An RJ case: its reference, stage and progress. No personal data.")
class RjCaseType:
    id: strawberry.ID
    reference: str
    source: CaseSource
    task_id: strawberry.ID | None = strawberry.field(description="The Hub task the case was opened from, if any.")
    crime_category: CrimeCategory
    sensitive: bool
    stage: RjStage
    halted: bool
    lead_facilitator_id: strawberry.ID | None
    co_facilitator_id: strawberry.ID | None
    assessed_suitable: bool | None
    risk_level: RiskLevel | None
    assessed_at: datetime | None
    supervisor_approved_at: datetime | None
    intervention_kind: InterventionKind | None
    agreement_completed_at: datetime | None
    follow_up_due_on: date | None
    harmed_satisfaction: Satisfaction | None
    closure_reason: ClosureReason | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: RjCase) -> RjCaseType:
        return cls(
            id=strawberry.ID(str(row.id)),
            reference=row.reference,
            source=CaseSource(row.source),
            task_id=strawberry.ID(str(row.task_id)) if row.task_id else None,
            crime_category=CrimeCategory(row.crime_category),
            sensitive=row.sensitive,
            stage=RjStage(row.stage),
            halted=row.halted_at is not None,
            lead_facilitator_id=strawberry.ID(str(row.lead_facilitator_id)) if row.lead_facilitator_id else None,
            co_facilitator_id=strawberry.ID(str(row.co_facilitator_id)) if row.co_facilitator_id else None,
            assessed_suitable=row.assessed_suitable,
            risk_level=_maybe(RiskLevel, row.risk_level),
            assessed_at=_utc(row.assessed_at),
            supervisor_approved_at=_utc(row.approved_at),
            intervention_kind=_maybe(InterventionKind, row.intervention_kind),
            agreement_completed_at=_utc(row.agreement_completed_at),
            follow_up_due_on=row.follow_up_due_on,
            harmed_satisfaction=_maybe(Satisfaction, row.harmed_satisfaction),
            closure_reason=_maybe(ClosureReason, row.closure_reason),
            created_at=as_utc(row.created_at),
        )


@strawberry.type(name="RjParty", description="A party to an RJ case with only the contact details RJ needs.")
class RjPartyType:
    id: strawberry.ID
    role: PartyRole
    supports_party_id: strawberry.ID | None
    given_name: str
    family_name: str
    phone: str | None
    email: str | None
    safe_contact_notes: str | None
    consent_given_at: datetime | None
    consent_method: ConsentMethod | None
    willing: bool
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row: Party) -> RjPartyType:
        return cls(
            id=strawberry.ID(str(row.id)),
            role=PartyRole(row.role),
            supports_party_id=strawberry.ID(str(row.supports_party_id)) if row.supports_party_id else None,
            given_name=row.given_name,
            family_name=row.family_name,
            phone=row.phone,
            email=row.email,
            safe_contact_notes=row.safe_contact_notes,
            consent_given_at=_utc(row.consent_given_at),
            consent_method=_maybe(ConsentMethod, row.consent_method),
            willing=row.willing,
            withdrawn_at=_utc(row.withdrawn_at),
        )


@strawberry.type(name="RjPartyRef", description="A party by id and role only, for results that need no details.")
class RjPartyRefType:
    id: strawberry.ID
    role: PartyRole
    willing: bool
    withdrawn: bool

    @classmethod
    def from_row(cls, row: Party) -> RjPartyRefType:
        return cls(
            id=strawberry.ID(str(row.id)),
            role=PartyRole(row.role),
            willing=row.willing,
            withdrawn=row.withdrawn_at is not None,
        )


@strawberry.type(name="RjPreparationMeeting")
class RjPreparationMeetingType:
    id: strawberry.ID
    party_id: strawberry.ID
    held_at: datetime

    @classmethod
    def from_row(cls, row: PreparationMeeting) -> RjPreparationMeetingType:
        return cls(
            id=strawberry.ID(str(row.id)), party_id=strawberry.ID(str(row.party_id)), held_at=as_utc(row.held_at)
        )


@strawberry.type(name="RjIntervention")
class RjInterventionType:
    id: strawberry.ID
    kind: InterventionKind
    conference_id: strawberry.ID | None
    delivered_at: datetime

    @classmethod
    def from_row(cls, row: Intervention) -> RjInterventionType:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=InterventionKind(row.kind),
            conference_id=strawberry.ID(str(row.conference_id)) if row.conference_id else None,
            delivered_at=as_utc(row.delivered_at),
        )


@strawberry.type(name="RjAgreementAction")
class RjAgreementActionType:
    id: strawberry.ID
    description: str
    owner_party_id: strawberry.ID
    due_on: date
    done: bool
    done_at: datetime | None

    @classmethod
    def from_row(cls, row: AgreementAction) -> RjAgreementActionType:
        return cls(
            id=strawberry.ID(str(row.id)),
            description=row.description,
            owner_party_id=strawberry.ID(str(row.owner_party_id)),
            due_on=row.due_on,
            done=row.done_at is not None,
            done_at=_utc(row.done_at),
        )


@strawberry.type(name="RjParticipant")
class RjParticipantType:
    party_id: strawberry.ID
    attended: bool | None


@strawberry.type(name="RjConference")
class RjConferenceType:
    id: strawberry.ID
    case_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    venue: str | None
    video_call: bool
    status: ConferenceStatus
    status_reason: str | None
    recorded_afterwards: bool = strawberry.field(description="Entered after it took place, not booked ahead.")
    participants: list[RjParticipantType]
    facilitator_ids: list[strawberry.ID]

    @classmethod
    def from_row(
        cls, row: Conference, participants: list[ConferenceParticipant], facilitator_ids: list[int]
    ) -> RjConferenceType:
        return cls(
            id=strawberry.ID(str(row.id)),
            case_id=strawberry.ID(str(row.case_id)),
            starts_at=as_utc(row.starts_at),
            ends_at=as_utc(row.ends_at),
            venue=row.venue,
            video_call=row.video_call,
            status=ConferenceStatus(row.status),
            status_reason=row.status_reason,
            recorded_afterwards=row.recorded_afterwards,
            participants=[
                RjParticipantType(party_id=strawberry.ID(str(p.party_id)), attended=p.attended) for p in participants
            ],
            facilitator_ids=[strawberry.ID(str(f)) for f in facilitator_ids],
        )


@strawberry.type(name="RjCaseNote", description="A note on a case: who wrote it, when, and what.")
class RjCaseNoteType:
    id: strawberry.ID
    text: str
    written_by: str
    written_at: datetime

    @classmethod
    def from_row(cls, row: CaseNote) -> RjCaseNoteType:
        return cls(
            id=strawberry.ID(str(row.id)), text=row.text, written_by=row.written_by, written_at=as_utc(row.written_at)
        )


@strawberry.type(name="RjCaseDetail", description="A case with its parties and notes (each read is audited).")
class RjCaseDetailType:
    case: RjCaseType
    task_reference: str | None = strawberry.field(description="The reference of the Hub task it was opened from.")
    parties: list[RjPartyType]
    preparation_meetings: list[RjPreparationMeetingType]
    interventions: list[RjInterventionType]
    agreement_actions: list[RjAgreementActionType]
    conferences: list[RjConferenceType]
    notes: list[RjCaseNoteType]

    @classmethod
    def from_detail(cls, detail: CaseDetail) -> RjCaseDetailType:
        return cls(
            case=RjCaseType.from_row(detail.case),
            task_reference=detail.task_reference,
            notes=[RjCaseNoteType.from_row(n) for n in detail.notes],
            parties=[RjPartyType.from_row(p) for p in detail.parties],
            preparation_meetings=[RjPreparationMeetingType.from_row(m) for m in detail.meetings],
            interventions=[RjInterventionType.from_row(i) for i in detail.interventions],
            agreement_actions=[RjAgreementActionType.from_row(a) for a in detail.actions],
            conferences=[
                RjConferenceType.from_row(
                    c,
                    detail.participants.get(c.id or 0, []),
                    detail.conference_facilitators.get(c.id or 0, []),
                )
                for c in detail.conferences
            ],
        )


@strawberry.type(name="RjFacilitator")
class RjFacilitatorType:
    id: strawberry.ID
    user_id: strawberry.ID
    name: str
    home_agency: HomeAgency
    accreditation_level: AccreditationLevel
    accreditation_expires_on: date
    accredited_today: bool
    calendar_token_rotated_at: datetime | None

    @classmethod
    def from_row(cls, row: Facilitator) -> RjFacilitatorType:
        return cls(
            id=strawberry.ID(str(row.id)),
            user_id=strawberry.ID(str(row.user_id)),
            name=row.display_name,
            home_agency=HomeAgency(row.home_agency),
            accreditation_level=AccreditationLevel(row.accreditation_level),
            accreditation_expires_on=row.accreditation_expires_on,
            accredited_today=row.accreditation_expires_on >= utc_now().date(),
            calendar_token_rotated_at=_utc(row.feed_token_rotated_at),
        )


@strawberry.type(
    name="RjFacilitatorCandidate", description="A member of the RJ hub who can be registered as a facilitator."
)
class RjFacilitatorCandidateType:
    user_id: strawberry.ID
    email: str

    @classmethod
    def from_candidate(cls, candidate: FacilitatorCandidate) -> RjFacilitatorCandidateType:
        return cls(user_id=strawberry.ID(str(candidate.user_id)), email=candidate.email)


@strawberry.type(name="RjCaseloadEntry")
class RjCaseloadEntryType:
    case: RjCaseType
    role: FacilitatorRole
    next_conference_at: datetime | None

    @classmethod
    def from_entry(cls, entry: CaseloadEntry) -> RjCaseloadEntryType:
        return cls(
            case=RjCaseType.from_row(entry.case),
            role=FacilitatorRole(entry.role),
            next_conference_at=entry.next_conference_at,
        )


@strawberry.type(name="RjCasePage")
class RjCasePage:
    items: list[RjCaseType]
    next_cursor: str | None


@strawberry.type
class RjCasePayload:
    case: RjCaseType


@strawberry.type
class RjPartyPayload:
    party: RjPartyRefType


@strawberry.type
class RjConferencePayload:
    conference: RjConferenceType


@strawberry.type
class RjCaseNotePayload:
    note: RjCaseNoteType


@strawberry.type
class RjFacilitatorPayload:
    facilitator: RjFacilitatorType


@strawberry.type(description="A new calendar-feed URL path and query; shown once, only its hash is kept.")
class RjCalendarFeedPayload:
    facilitator: RjFacilitatorType
    feed_path: str = strawberry.field(description="Append to the gateway's URL; it holds the token, keep it private.")


RjCaseResult = Annotated[RjCasePayload | OperationError, strawberry.union("RjCaseResult")]
RjPartyResult = Annotated[RjPartyPayload | OperationError, strawberry.union("RjPartyResult")]
RjConferenceResult = Annotated[RjConferencePayload | OperationError, strawberry.union("RjConferenceResult")]
RjCaseNoteResult = Annotated[RjCaseNotePayload | OperationError, strawberry.union("RjCaseNoteResult")]
RjFacilitatorResult = Annotated[RjFacilitatorPayload | OperationError, strawberry.union("RjFacilitatorResult")]
RjCalendarFeedResult = Annotated[RjCalendarFeedPayload | OperationError, strawberry.union("RjCalendarFeedResult")]
