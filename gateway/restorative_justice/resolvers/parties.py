"""Thin RJ resolvers for adding a party, their consent and withdrawal,
and case notes: parse the input, call one service function, map the result. Apart from the
other families so each reads on its own; RestorativeJusticeMutation joins them.
"""

from __future__ import annotations

import strawberry

from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.restorative_justice import service
from gateway.restorative_justice.inputs import (
    AddRjCaseNoteInput,
    AddRjPartyInput,
    RecordRjPartyConsentInput,
    RjPartyChangeInput,
)
from gateway.restorative_justice.resolvers.common import CASEWORK, MANAGE, note_result, party_result
from gateway.restorative_justice.types import RjCaseNoteResult, RjPartyResult


@strawberry.type
class RjPartyMutation:
    @strawberry.mutation(permission_classes=[MANAGE])
    async def add_rj_party(self, info: Info, input: AddRjPartyInput) -> RjPartyResult:
        return await party_result(
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
        return await party_result(
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
        return await party_result(
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
        return await note_result(
            info,
            lambda db, actor: service.add_case_note(
                db=db,
                actor=actor,
                case_id=record_id(input.case_id, "case"),
                text=input.text,
                idempotency_key=input.idempotency_key,
            ),
        )
