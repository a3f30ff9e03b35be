"""Thin resolvers for RJ casework: parse the input, call one service function, map the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from gateway.auth.principal import Principal, Scope
from gateway.consent.models import ConsentMethod
from gateway.errors import DomainError
from gateway.graphql.context import Info
from gateway.graphql.permissions import requires, requires_any
from gateway.graphql.results import OperationError, perform
from gateway.referrals.types import decode_cursor, encode_cursor
from gateway.restorative_justice import service
from gateway.restorative_justice.inputs import (
    AddRjPartyInput,
    AssignRjFacilitatorsInput,
    CloseRjCaseInput,
    CreateRjCaseFromTaskInput,
    CreateRjCaseInput,
    MarkRjActionDoneInput,
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
    choice,
    record_id,
)
from gateway.restorative_justice.models import (
    CaseSource,
    ClosureReason,
    Conference,
    InterventionKind,
    RjCase,
    RjStage,
    Satisfaction,
)
from gateway.restorative_justice.types import (
    RjCaseDetailType,
    RjCaseloadEntryType,
    RjCasePage,
    RjCaseType,
    RjConferenceType,
    RjFacilitatorType,
    RjPartyRefType,
)
from providers.profile import CrimeCategory

MAX_PAGE_SIZE = 100
MANAGE = requires(Scope.RJ_MANAGE)
CASEWORK = requires_any(Scope.RJ_MANAGE, Scope.RJ_FACILITATE)


def _actor(info: Info) -> Principal:
    principal = info.context.principal
    assert principal is not None  # every field here declares a scope, so anonymous callers never reach it
    return principal


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
class RjFacilitatorPayload:
    facilitator: RjFacilitatorType


@strawberry.type(description="A new calendar-feed URL path and query; shown once, only its hash is kept.")
class RjCalendarFeedPayload:
    facilitator: RjFacilitatorType
    feed_path: str = strawberry.field(description="Append to the gateway's URL; it holds the token, keep it private.")


RjCaseResult = Annotated[RjCasePayload | OperationError, strawberry.union("RjCaseResult")]
RjPartyResult = Annotated[RjPartyPayload | OperationError, strawberry.union("RjPartyResult")]
RjConferenceResult = Annotated[RjConferencePayload | OperationError, strawberry.union("RjConferenceResult")]
RjFacilitatorResult = Annotated[RjFacilitatorPayload | OperationError, strawberry.union("RjFacilitatorResult")]
RjCalendarFeedResult = Annotated[RjCalendarFeedPayload | OperationError, strawberry.union("RjCalendarFeedResult")]


async def _case(info: Info, change: Callable[[], Awaitable[RjCase]]) -> RjCaseResult:
    async def run() -> RjCasePayload:
        return RjCasePayload(case=RjCaseType.from_row(await change()))

    return await perform(info, run)


async def _conference(info: Info, change: Callable[[], Awaitable[Conference]]) -> RjConferenceResult:
    async def run() -> RjConferencePayload:
        conference = await change()
        assert conference.id is not None
        participants, facilitators = await service.load_conference_links(
            db=info.context.db, conference_ids=[conference.id]
        )
        return RjConferencePayload(
            conference=RjConferenceType.from_row(conference, participants[conference.id], facilitators[conference.id])
        )

    return await perform(info, run)


@strawberry.type
class RestorativeJusticeQuery:
    @strawberry.field(
        description="RJ cases: every case for the co-ordinator, assigned ones for a facilitator.",
        permission_classes=[CASEWORK],
    )
    async def rj_cases(
        self, info: Info, first: int = 20, after: str | None = None, stage: str | None = None
    ) -> RjCasePage:
        limit = max(1, min(first, MAX_PAGE_SIZE))
        wanted = choice(RjStage, stage, "RJ stage") if stage else None
        try:
            async with info.context.db_lock:
                rows = await service.list_cases(
                    db=info.context.db, actor=_actor(info), stage=wanted, after_id=decode_cursor(after), limit=limit
                )
        except DomainError:
            return RjCasePage(items=[], next_cursor=None)
        cursor = encode_cursor(int(rows[-1].id or 0)) if rows and len(rows) == limit else None
        return RjCasePage(items=[RjCaseType.from_row(r) for r in rows], next_cursor=cursor)

    @strawberry.field(
        description="One RJ case with its parties' contact details (the read is audited) and its work.",
        permission_classes=[CASEWORK],
    )
    async def rj_case(self, info: Info, id: strawberry.ID) -> RjCaseDetailType | None:
        async with info.context.db_lock:
            # perform: the audit rows of this read commit with it.
            found = await perform(
                info,
                lambda: service.get_case_detail(db=info.context.db, actor=_actor(info), case_id=record_id(id, "case")),
            )
        return None if isinstance(found, OperationError) else RjCaseDetailType.from_detail(found)

    @strawberry.field(
        description="A facilitator's open cases: the caller's own, or any facilitator's for the co-ordinator.",
        permission_classes=[CASEWORK],
    )
    async def rj_caseload(self, info: Info, facilitator_id: strawberry.ID | None = None) -> list[RjCaseloadEntryType]:
        try:
            async with info.context.db_lock:
                entries = await service.list_caseload(
                    db=info.context.db,
                    actor=_actor(info),
                    facilitator_id=record_id(facilitator_id, "facilitator") if facilitator_id else None,
                )
        except DomainError:
            return []
        return [RjCaseloadEntryType.from_entry(e) for e in entries]

    @strawberry.field(description="The RJ hub's facilitators.", permission_classes=[MANAGE])
    async def rj_facilitators(self, info: Info) -> list[RjFacilitatorType]:
        try:
            async with info.context.db_lock:
                rows = await service.list_facilitators(db=info.context.db, actor=_actor(info))
        except DomainError:
            return []
        return [RjFacilitatorType.from_row(r) for r in rows]


@strawberry.type
class RestorativeJusticeMutation:
    # -- facilitators --------------------------------------------------------------------------------------

    @strawberry.mutation(permission_classes=[MANAGE])
    async def register_rj_facilitator(self, info: Info, input: RegisterRjFacilitatorInput) -> RjFacilitatorResult:
        async def run() -> RjFacilitatorPayload:
            row = await service.register_facilitator(
                db=info.context.db,
                actor=_actor(info),
                user_id=record_id(input.user_id, "user"),
                home_agency=input.home_agency,
                accreditation_level=input.accreditation_level,
                accreditation_expires_on=input.accreditation_expires_on,
                idempotency_key=input.idempotency_key,
            )
            return RjFacilitatorPayload(facilitator=RjFacilitatorType.from_row(row))

        return await perform(info, run)

    @strawberry.mutation(permission_classes=[MANAGE])
    async def renew_rj_accreditation(self, info: Info, input: RenewRjAccreditationInput) -> RjFacilitatorResult:
        async def run() -> RjFacilitatorPayload:
            row = await service.renew_accreditation(
                db=info.context.db,
                actor=_actor(info),
                facilitator_id=record_id(input.facilitator_id, "facilitator"),
                level=input.accreditation_level,
                expires_on=input.accreditation_expires_on,
                idempotency_key=input.idempotency_key,
            )
            return RjFacilitatorPayload(facilitator=RjFacilitatorType.from_row(row))

        return await perform(info, run)

    @strawberry.mutation(
        description="Issue a new calendar-feed token (the old one stops working): the co-ordinator for any "
        "facilitator, a facilitator for themselves.",
        permission_classes=[CASEWORK],
    )
    async def rotate_rj_calendar_token(
        self, info: Info, facilitator_id: strawberry.ID | None = None
    ) -> RjCalendarFeedResult:
        async def run() -> RjCalendarFeedPayload:
            issued = await service.rotate_feed_token(
                db=info.context.db,
                actor=_actor(info),
                facilitator_id=record_id(facilitator_id, "facilitator") if facilitator_id else None,
            )
            return RjCalendarFeedPayload(
                facilitator=RjFacilitatorType.from_row(issued.facilitator),
                feed_path=f"/rj/calendar.ics?token={issued.token}",
            )

        return await perform(info, run)

    # -- cases ---------------------------------------------------------------------------------------------

    @strawberry.mutation(
        description="Open an RJ case from a task the RJ hub has accepted.", permission_classes=[MANAGE]
    )
    async def create_rj_case_from_task(self, info: Info, input: CreateRjCaseFromTaskInput) -> RjCaseResult:
        return await _case(
            info,
            lambda: service.create_case_from_task(
                db=info.context.db,
                actor=_actor(info),
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
            lambda: service.create_direct_case(
                db=info.context.db,
                actor=_actor(info),
                source=choice(CaseSource, input.source, "case source"),
                crime_category=choice(CrimeCategory, input.crime_category, "crime category"),
                marked_sensitive=input.marked_sensitive,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[MANAGE])
    async def assign_rj_facilitators(self, info: Info, input: AssignRjFacilitatorsInput) -> RjCaseResult:
        return await _case(
            info,
            lambda: service.assign_facilitators(
                db=info.context.db,
                actor=_actor(info),
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
            lambda: service.record_initial_contact(
                db=info.context.db,
                actor=_actor(info),
                case_id=record_id(input.case_id, "case"),
                contacted_at=input.contacted_at,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_assessment(self, info: Info, input: RecordRjAssessmentInput) -> RjCaseResult:
        return await _case(
            info,
            lambda: service.record_assessment(
                db=info.context.db,
                actor=_actor(info),
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
            lambda: service.approve_assessment(
                db=info.context.db,
                actor=_actor(info),
                case_id=record_id(input.case_id, "case"),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_preparation_meeting(self, info: Info, input: RecordRjPreparationMeetingInput) -> RjCaseResult:
        return await _case(
            info,
            lambda: service.record_preparation_meeting(
                db=info.context.db,
                actor=_actor(info),
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
            lambda: service.record_intervention(
                db=info.context.db,
                actor=_actor(info),
                case_id=record_id(input.case_id, "case"),
                kind=choice(InterventionKind, input.kind, "intervention kind"),
                delivered_at=input.delivered_at,
                conference_id=record_id(input.conference_id, "conference") if input.conference_id else None,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_outcome_agreement(self, info: Info, input: RecordRjOutcomeAgreementInput) -> RjCaseResult:
        return await _case(
            info,
            lambda: service.record_outcome_agreement(
                db=info.context.db,
                actor=_actor(info),
                case_id=record_id(input.case_id, "case"),
                actions=[a.values() for a in input.actions],
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def mark_rj_action_done(self, info: Info, input: MarkRjActionDoneInput) -> RjCaseResult:
        return await _case(
            info,
            lambda: service.mark_action_done(
                db=info.context.db,
                actor=_actor(info),
                action_id=record_id(input.action_id, "action"),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def schedule_rj_follow_up(self, info: Info, input: ScheduleRjFollowUpInput) -> RjCaseResult:
        return await _case(
            info,
            lambda: service.schedule_follow_up(
                db=info.context.db,
                actor=_actor(info),
                case_id=record_id(input.case_id, "case"),
                follow_up_on=input.follow_up_on,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_follow_up(self, info: Info, input: RecordRjFollowUpInput) -> RjCaseResult:
        return await _case(
            info,
            lambda: service.record_follow_up(
                db=info.context.db,
                actor=_actor(info),
                case_id=record_id(input.case_id, "case"),
                harmed_satisfaction=choice(Satisfaction, input.harmed_satisfaction, "satisfaction"),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[MANAGE])
    async def close_rj_case(self, info: Info, input: CloseRjCaseInput) -> RjCaseResult:
        return await _case(
            info,
            lambda: service.close_case(
                db=info.context.db,
                actor=_actor(info),
                case_id=record_id(input.case_id, "case"),
                reason=choice(ClosureReason, input.reason, "closure reason"),
                idempotency_key=input.idempotency_key,
            ),
        )

    # -- parties -------------------------------------------------------------------------------------------

    @strawberry.mutation(permission_classes=[MANAGE])
    async def add_rj_party(self, info: Info, input: AddRjPartyInput) -> RjPartyResult:
        async def run() -> RjPartyPayload:
            party = await service.add_party(
                db=info.context.db,
                actor=_actor(info),
                case_id=record_id(input.case_id, "case"),
                party=input.values(),
                idempotency_key=input.idempotency_key,
            )
            return RjPartyPayload(party=RjPartyRefType.from_row(party))

        return await perform(info, run)

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_party_consent(self, info: Info, input: RecordRjPartyConsentInput) -> RjPartyResult:
        async def run() -> RjPartyPayload:
            party = await service.record_party_consent(
                db=info.context.db,
                actor=_actor(info),
                party_id=record_id(input.party_id, "party"),
                method=choice(ConsentMethod, input.method, "consent method"),
                willing=input.willing,
                idempotency_key=input.idempotency_key,
            )
            return RjPartyPayload(party=RjPartyRefType.from_row(party))

        return await perform(info, run)

    @strawberry.mutation(
        description="A party withdraws: the case halts and its scheduled conferences are cancelled.",
        permission_classes=[CASEWORK],
    )
    async def withdraw_rj_party(self, info: Info, input: RjPartyChangeInput) -> RjPartyResult:
        async def run() -> RjPartyPayload:
            party = await service.withdraw_party(
                db=info.context.db,
                actor=_actor(info),
                party_id=record_id(input.party_id, "party"),
                idempotency_key=input.idempotency_key,
            )
            return RjPartyPayload(party=RjPartyRefType.from_row(party))

        return await perform(info, run)

    # -- conferences ---------------------------------------------------------------------------------------

    @strawberry.mutation(
        description="Book a conference; refused when a facilitator, a participant or the venue is already booked.",
        permission_classes=[MANAGE],
    )
    async def schedule_rj_conference(self, info: Info, input: ScheduleRjConferenceInput) -> RjConferenceResult:
        return await _conference(
            info,
            lambda: service.schedule_conference(
                db=info.context.db,
                actor=_actor(info),
                case_id=record_id(input.case_id, "case"),
                booking=input.values(),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[MANAGE])
    async def reschedule_rj_conference(self, info: Info, input: RescheduleRjConferenceInput) -> RjConferenceResult:
        return await _conference(
            info,
            lambda: service.reschedule_conference(
                db=info.context.db,
                actor=_actor(info),
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
            lambda: service.cancel_conference(
                db=info.context.db,
                actor=_actor(info),
                conference_id=record_id(input.conference_id, "conference"),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[CASEWORK])
    async def record_rj_attendance(self, info: Info, input: RecordRjAttendanceInput) -> RjConferenceResult:
        return await _conference(
            info,
            lambda: service.record_attendance(
                db=info.context.db,
                actor=_actor(info),
                conference_id=record_id(input.conference_id, "conference"),
                attended_party_ids=frozenset(record_id(p, "party") for p in input.attended_party_ids),
                idempotency_key=input.idempotency_key,
            ),
        )
