"""Thin RJ resolvers for registering facilitators, renewing their accreditation and issuing
calendar-feed links: parse the input, call one service function, map the result. Apart from the
other families so each reads on its own; RestorativeJusticeMutation joins them.
"""

from __future__ import annotations

import strawberry

from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.graphql.results import perform_change
from gateway.restorative_justice import service
from gateway.restorative_justice.inputs import RegisterRjFacilitatorInput, RenewRjAccreditationInput
from gateway.restorative_justice.resolvers.common import CASEWORK, MANAGE, calendar_feed, facilitator_result
from gateway.restorative_justice.types import RjCalendarFeedResult, RjFacilitatorResult


@strawberry.type
class RjFacilitatorMutation:
    @strawberry.mutation(permission_classes=[MANAGE])
    async def register_rj_facilitator(self, info: Info, input: RegisterRjFacilitatorInput) -> RjFacilitatorResult:
        return await facilitator_result(
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
        return await facilitator_result(
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
            calendar_feed,
        )
