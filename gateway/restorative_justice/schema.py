"""Thin resolvers for RJ casework: parse the input, call one service function, map the result."""

from __future__ import annotations

import strawberry

from gateway.auth.principal import Scope
from gateway.db import AsyncSession
from gateway.errors import DomainError
from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.graphql.pagination import decode_cursor, next_cursor, page_size
from gateway.graphql.permissions import requires, requires_any
from gateway.graphql.results import Change, perform, perform_change
from gateway.restorative_justice import service
from gateway.restorative_justice.inputs import (
    AddRjCaseNoteInput,
    AddRjPartyInput,
    AssignRjFacilitatorsInput,
    CloseRjCaseInput,
    CreateRjCaseFromTaskInput,
    CreateRjCaseInput,
    MarkRjActionDoneInput,
    RecordPastRjConferenceInput,
    RecordRjAssessmentInput,
    RecordRjAttendanceInput,
    RecordRjFollowUpInput,
    RecordRjInitialContactInput,
    RecordRjInterventionInput,
    RecordRjOutcomeAgreementInput,
    RecordRjPartyConsentInput,
    RecordRjPreparationMeetingInput,
    RegisterRjFacilitatorInput,
    RenewRjAccreditationInput,
    RescheduleRjConferenceInput,
    RjCaseStepInput,
    RjConferenceChangeInput,
    RjPartyChangeInput,
    ScheduleRjConferenceInput,
    ScheduleRjFollowUpInput,
)
from gateway.restorative_justice.models import (
    CaseNote,
    Conference,
    Facilitator,
    Party,
    RjCase,
)
from gateway.restorative_justice.types import (
    RjCalendarFeedPayload,
    RjCalendarFeedResult,
    RjCaseDetailType,
    RjCaseloadEntryType,
    RjCaseNotePayload,
    RjCaseNoteResult,
    RjCaseNoteType,
    RjCasePage,
    RjCasePayload,
    RjCaseResult,
    RjCaseType,
    RjConferencePayload,
    RjConferenceResult,
    RjConferenceType,
    RjFacilitatorCandidateType,
    RjFacilitatorPayload,
    RjFacilitatorResult,
    RjFacilitatorType,
    RjPartyPayload,
    RjPartyRefType,
    RjPartyResult,
)
from gateway.restorative_justice.vocabularies import RjStage

MANAGE = requires(Scope.RJ_MANAGE)
CASEWORK = requires_any(Scope.RJ_MANAGE, Scope.RJ_FACILITATE)


async def _case(info: Info, change: Change[RjCase]) -> RjCaseResult:
    return await perform_change(info, change, lambda case: RjCasePayload(case=RjCaseType.from_row(case)))


async def _party(info: Info, change: Change[Party]) -> RjPartyResult:
    return await perform_change(info, change, lambda party: RjPartyPayload(party=RjPartyRefType.from_row(party)))


async def _facilitator(info: Info, change: Change[Facilitator]) -> RjFacilitatorResult:
    return await perform_change(
        info, change, lambda row: RjFacilitatorPayload(facilitator=RjFacilitatorType.from_row(row))
    )


async def _conference(info: Info, change: Change[Conference]) -> RjConferenceResult:
    async def run(db: AsyncSession) -> RjConferencePayload:
        conference = await change(db, caller(info))
        assert conference.id is not None
        participants, facilitators = await service.load_conference_links(db=db, conference_ids=[conference.id])
        return RjConferencePayload(
            conference=RjConferenceType.from_row(conference, participants[conference.id], facilitators[conference.id])
        )

    return await perform(info, run)


async def _note(info: Info, change: Change[CaseNote]) -> RjCaseNoteResult:
    return await perform_change(info, change, lambda note: RjCaseNotePayload(note=RjCaseNoteType.from_row(note)))


def _calendar_feed(issued: service.IssuedFeedToken) -> RjCalendarFeedPayload:
    return RjCalendarFeedPayload(
        facilitator=RjFacilitatorType.from_row(issued.facilitator), feed_path=f"/rj/calendar.ics?token={issued.token}"
    )


@strawberry.type
class RestorativeJusticeQuery:
    @strawberry.field(
        description="RJ cases: every case for the co-ordinator, assigned ones for a facilitator.",
        permission_classes=[CASEWORK],
    )
    async def rj_cases(
        self, info: Info, first: int = 20, after: str | None = None, stage: RjStage | None = None
    ) -> RjCasePage:
        limit = page_size(first)
        after_id = decode_cursor(after)
        wanted = stage
        try:
            rows = await info.context.session.run(
                lambda db: service.list_cases(db=db, actor=caller(info), stage=wanted, after_id=after_id, limit=limit)
            )
        except DomainError:
            return RjCasePage(items=[], next_cursor=None)
        return RjCasePage(items=[RjCaseType.from_row(r) for r in rows], next_cursor=next_cursor(rows, limit))

    @strawberry.field(
        description="One RJ case with its parties' contact details (the read is audited) and its work.",
        permission_classes=[CASEWORK],
    )
    async def rj_case(self, info: Info, id: strawberry.ID) -> RjCaseDetailType | None:
        try:
            # The audit rows of this read commit with the request, before the answer leaves.
            found = await info.context.session.run(
                lambda db: service.get_case_detail(db=db, actor=caller(info), case_id=record_id(id, "case"))
            )
        except DomainError:
            return None  # missing and not-yours look the same
        return RjCaseDetailType.from_detail(found)

    @strawberry.field(
        description="A facilitator's open cases: the caller's own, or any facilitator's for the co-ordinator.",
        permission_classes=[CASEWORK],
    )
    async def rj_caseload(self, info: Info, facilitator_id: strawberry.ID | None = None) -> list[RjCaseloadEntryType]:
        try:
            entries = await info.context.session.run(
                lambda db: service.list_caseload(
                    db=db,
                    actor=caller(info),
                    facilitator_id=record_id(facilitator_id, "facilitator") if facilitator_id else None,
                )
            )
        except DomainError:
            return []
        return [RjCaseloadEntryType.from_entry(e) for e in entries]

    @strawberry.field(
        description="An RJ case by its reference (RJ-2026-000001), when the caller may see it.",
        permission_classes=[CASEWORK],
    )
    async def rj_case_by_reference(self, info: Info, reference: str) -> RjCaseType | None:
        try:
            found = await info.context.session.run(
                lambda db: service.find_case_by_reference(db=db, actor=caller(info), reference=reference)
            )
        except DomainError:
            return None
        return RjCaseType.from_row(found)

    @strawberry.field(
        description="The RJ case opened from a Hub task, when the caller may see it.", permission_classes=[CASEWORK]
    )
    async def rj_case_for_task(self, info: Info, task_id: strawberry.ID) -> RjCaseType | None:
        try:
            found = await info.context.session.run(
                lambda db: service.case_for_task(db=db, actor=caller(info), task_id=record_id(task_id, "task"))
            )
        except DomainError:
            return None
        return RjCaseType.from_row(found)

    @strawberry.field(description="The RJ hub's facilitators, by name.", permission_classes=[MANAGE])
    async def rj_facilitators(self, info: Info) -> list[RjFacilitatorType]:
        try:
            rows = await info.context.session.run(lambda db: service.list_facilitators(db=db, actor=caller(info)))
        except DomainError:
            return []
        return [RjFacilitatorType.from_row(r) for r in rows]

    @strawberry.field(
        description="Members of the RJ hub with the rj-facilitator role not yet registered as facilitators.",
        permission_classes=[MANAGE],
    )
    async def rj_facilitator_candidates(self, info: Info) -> list[RjFacilitatorCandidateType]:
        try:
            found = await info.context.session.run(
                lambda db: service.list_facilitator_candidates(db=db, actor=caller(info))
            )
        except DomainError:
            return []
        return [RjFacilitatorCandidateType.from_candidate(c) for c in found]


@strawberry.type
class RestorativeJusticeMutation:
    # -- facilitators --------------------------------------------------------------------------------------

    @strawberry.mutation(permission_classes=[MANAGE])
    async def register_rj_facilitator(self, info: Info, input: RegisterRjFacilitatorInput) -> RjFacilitatorResult:
        return await _facilitator(
            info,
            lambda db, actor: service.register_facilitator(
                db=db,
                actor=actor,
                user_id=record_id(input.user_id, "user"),
                display_name=input.name,
                home_agency=input.home_agency,
                accreditation_level=input.accreditation_level,
                accreditation_expires_on=input.accreditation_expires_on,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[MANAGE])
    async def renew_rj_accreditation(self, info: Info, input: RenewRjAccreditationInput) -> RjFacilitatorResult:
        return await _facilitator(
            info,
            lambda db, actor: service.renew_accreditation(
                db=db,
                actor=actor,
                facilitator_id=record_id(input.facilitator_id, "facilitator"),
                level=input.accreditation_level,
                expires_on=input.accreditation_expires_on,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="Issue a new calendar-feed token (the old one stops working): the co-ordinator for any "
        "facilitator, a facilitator for themselves.",
        permission_classes=[CASEWORK],
    )
    async def rotate_rj_calendar_token(
        self, info: Info, facilitator_id: strawberry.ID | None = None
    ) -> RjCalendarFeedResult:
        return await perform_change(
            info,
            lambda db, actor: service.rotate_feed_token(
                db=db,
                actor=actor,
                facilitator_id=record_id(facilitator_id, "facilitator") if facilitator_id else None,
            ),
            _calendar_feed,
        )

    # -- cases ---------------------------------------------------------------------------------------------

    @strawberry.mutation(
        description="Open an RJ case from a task the RJ hub has accepted.", permission_classes=[MANAGE]
    )
    async def create_rj_case_from_task(self, info: Info, input: CreateRjCaseFromTaskInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.create_case_from_task(
                db=db,
                actor=actor,
                task_id=record_id(input.task_id, "task"),
                marked_sensitive=input.marked_sensitive,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="Open an RJ case referred by an officer, another agency or the person themselves.",
        permission_classes=[MANAGE],
    )
    async def create_rj_case(self, info: Info, input: CreateRjCaseInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.create_direct_case(
                db=db,
                actor=actor,
                source=input.source,
                crime_category=input.crime_category,
                marked_sensitive=input.marked_sensitive,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[MANAGE])
    async def assign_rj_facilitators(self, info: Info, input: AssignRjFacilitatorsInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.assign_facilitators(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                lead_facilitator_id=record_id(input.lead_facilitator_id, "facilitator"),
                co_facilitator_id=record_id(input.co_facilitator_id, "facilitator")
                if input.co_facilitator_id
                else None,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_initial_contact(self, info: Info, input: RecordRjInitialContactInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.record_initial_contact(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                contacted_at=input.contacted_at,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_assessment(self, info: Info, input: RecordRjAssessmentInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.record_assessment(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                suitable=input.suitable,
                risk_level=input.risk_level,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="A case supervisor (a signed-in RJ co-ordinator, not the assessor) approves a sensitive "
        "case's assessment.",
        permission_classes=[MANAGE],
    )
    async def approve_rj_assessment(self, info: Info, input: RjCaseStepInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.approve_assessment(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_preparation_meeting(self, info: Info, input: RecordRjPreparationMeetingInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.record_preparation_meeting(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                party_id=record_id(input.party_id, "party"),
                held_at=input.held_at,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_intervention(self, info: Info, input: RecordRjInterventionInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.record_intervention(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                kind=input.kind,
                delivered_at=input.delivered_at,
                conference_id=record_id(input.conference_id, "conference") if input.conference_id else None,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_outcome_agreement(self, info: Info, input: RecordRjOutcomeAgreementInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.record_outcome_agreement(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                actions=[a.values() for a in input.actions],
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def mark_rj_action_done(self, info: Info, input: MarkRjActionDoneInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.mark_action_done(
                db=db,
                actor=actor,
                action_id=record_id(input.action_id, "action"),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def schedule_rj_follow_up(self, info: Info, input: ScheduleRjFollowUpInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.schedule_follow_up(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                follow_up_on=input.follow_up_on,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_follow_up(self, info: Info, input: RecordRjFollowUpInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.record_follow_up(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                harmed_satisfaction=input.harmed_satisfaction,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[MANAGE])
    async def close_rj_case(self, info: Info, input: CloseRjCaseInput) -> RjCaseResult:
        return await _case(
            info,
            lambda db, actor: service.close_case(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
        )

    # -- parties -------------------------------------------------------------------------------------------

    @strawberry.mutation(permission_classes=[MANAGE])
    async def add_rj_party(self, info: Info, input: AddRjPartyInput) -> RjPartyResult:
        return await _party(
            info,
            lambda db, actor: service.add_party(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                party=input.values(),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_party_consent(self, info: Info, input: RecordRjPartyConsentInput) -> RjPartyResult:
        return await _party(
            info,
            lambda db, actor: service.record_party_consent(
                db=db,
                actor=actor,
                party_id=record_id(input.party_id, "party"),
                method=input.method,
                willing=input.willing,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="A party withdraws: the case halts and its scheduled conferences are cancelled.",
        permission_classes=[CASEWORK],
    )
    async def withdraw_rj_party(self, info: Info, input: RjPartyChangeInput) -> RjPartyResult:
        return await _party(
            info,
            lambda db, actor: service.withdraw_party(
                db=db,
                actor=actor,
                party_id=record_id(input.party_id, "party"),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="A note on a case (audited; never in a calendar feed).", permission_classes=[CASEWORK]
    )
    async def add_rj_case_note(self, info: Info, input: AddRjCaseNoteInput) -> RjCaseNoteResult:
        return await _note(
            info,
            lambda db, actor: service.add_case_note(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                text=input.text,
                idempotency_key=input.idempotency_key,
            ),
        )

    # -- conferences ---------------------------------------------------------------------------------------

    @strawberry.mutation(
        description="Record a conference that already took place, with who attended; it is flagged as recorded "
        "afterwards.",
        permission_classes=[MANAGE],
    )
    async def record_past_rj_conference(self, info: Info, input: RecordPastRjConferenceInput) -> RjConferenceResult:
        return await _conference(
            info,
            lambda db, actor: service.record_past_conference(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                booking=input.values(),
                attended_party_ids=frozenset(record_id(p, "party") for p in input.attended_party_ids),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="Book a conference; refused when a facilitator, a participant or the venue is already booked.",
        permission_classes=[MANAGE],
    )
    async def schedule_rj_conference(self, info: Info, input: ScheduleRjConferenceInput) -> RjConferenceResult:
        return await _conference(
            info,
            lambda db, actor: service.schedule_conference(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                booking=input.values(),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[MANAGE])
    async def reschedule_rj_conference(self, info: Info, input: RescheduleRjConferenceInput) -> RjConferenceResult:
        return await _conference(
            info,
            lambda db, actor: service.reschedule_conference(
                db=db,
                actor=actor,
                conference_id=record_id(input.conference_id, "conference"),
                starts_at=input.starts_at,
                duration_minutes=input.duration_minutes,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[MANAGE])
    async def cancel_rj_conference(self, info: Info, input: RjConferenceChangeInput) -> RjConferenceResult:
        return await _conference(
            info,
            lambda db, actor: service.cancel_conference(
                db=db,
                actor=actor,
                conference_id=record_id(input.conference_id, "conference"),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_attendance(self, info: Info, input: RecordRjAttendanceInput) -> RjConferenceResult:
        return await _conference(
            info,
            lambda db, actor: service.record_attendance(
                db=db,
                actor=actor,
                conference_id=record_id(input.conference_id, "conference"),
                attended_party_ids=frozenset(record_id(p, "party") for p in input.attended_party_ids),
                idempotency_key=input.idempotency_key,
            ),
        )
