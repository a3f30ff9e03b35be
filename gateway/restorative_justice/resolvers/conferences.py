"""Thin RJ resolvers for booking, recording, rescheduling and cancelling conferences and
their attendance: parse the input, call one service function, map the result. Apart from the
other families so each reads on its own; RestorativeJusticeMutation joins them.
"""

from __future__ import annotations

import strawberry

from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.restorative_justice import service
from gateway.restorative_justice.inputs import (
    RecordPastRjConferenceInput,
    RecordRjAttendanceInput,
    RescheduleRjConferenceInput,
    RjConferenceChangeInput,
    ScheduleRjConferenceInput,
)
from gateway.restorative_justice.resolvers.common import CASEWORK, MANAGE, conference_result
from gateway.restorative_justice.types import RjConferenceResult


@strawberry.type
class RjConferenceMutation:
    @strawberry.mutation(
        description="Record a conference that already took place, with who attended; it is flagged as recorded "
        "afterwards.",
        permission_classes=[MANAGE],
    )
    async def record_past_rj_conference(self, info: Info, input: RecordPastRjConferenceInput) -> RjConferenceResult:
        return await conference_result(
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
        return await conference_result(
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
        return await conference_result(
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
        return await conference_result(
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
        return await conference_result(
            info,
            lambda db, actor: service.record_attendance(
                db=db,
                actor=actor,
                conference_id=record_id(input.conference_id, "conference"),
                attended_party_ids=frozenset(record_id(p, "party") for p in input.attended_party_ids),
                idempotency_key=input.idempotency_key,
            ),
        )
