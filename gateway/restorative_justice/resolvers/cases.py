"""Thin RJ resolvers for opening a case and moving it through its stages, from assigning
facilitators to closing it: parse the input, call one service function, map the result. Apart from the
other families so each reads on its own; RestorativeJusticeMutation joins them.
"""

from __future__ import annotations

import strawberry

from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.restorative_justice import service
from gateway.restorative_justice.inputs import (
    AssignRjFacilitatorsInput,
    CloseRjCaseInput,
    CreateRjCaseFromTaskInput,
    CreateRjCaseInput,
    MarkRjActionDoneInput,
    RecordRjAssessmentInput,
    RecordRjFollowUpInput,
    RecordRjInitialContactInput,
    RecordRjInterventionInput,
    RecordRjOutcomeAgreementInput,
    RecordRjPreparationMeetingInput,
    RjCaseStepInput,
    ScheduleRjFollowUpInput,
)
from gateway.restorative_justice.resolvers.common import CASEWORK, MANAGE, case_result
from gateway.restorative_justice.types import RjCaseResult


@strawberry.type
class RjCaseMutation:
    @strawberry.mutation(
        description="Open an RJ case from a task the RJ hub has accepted.", permission_classes=[MANAGE]
    )
    async def create_rj_case_from_task(self, info: Info, input: CreateRjCaseFromTaskInput) -> RjCaseResult:
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
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
        return await case_result(
            info,
            lambda db, actor: service.close_case(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
        )
