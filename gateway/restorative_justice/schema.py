"""Thin resolvers for RJ casework: parse the input, call one service function, map the result. This module
holds the queries and assembles the mutations, whose resolvers live one family per module in resolvers/."""

from __future__ import annotations

import strawberry

from gateway.errors import DomainError
from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.graphql.pagination import decode_cursor, next_cursor, page_size
from gateway.restorative_justice import service
from gateway.restorative_justice.resolvers.cases import RjCaseMutation
from gateway.restorative_justice.resolvers.common import CASEWORK, MANAGE
from gateway.restorative_justice.resolvers.conferences import RjConferenceMutation
from gateway.restorative_justice.resolvers.facilitators import RjFacilitatorMutation
from gateway.restorative_justice.resolvers.parties import RjPartyMutation
from gateway.restorative_justice.types import (
    RjCaseDetailType,
    RjCaseloadEntryType,
    RjCasePage,
    RjCaseType,
    RjFacilitatorCandidateType,
    RjFacilitatorType,
)
from gateway.restorative_justice.vocabularies import RjStage


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


# The SDL lists a root's fields in the order of its bases, so reordering them changes schema.graphql.
@strawberry.type
class RestorativeJusticeMutation(RjFacilitatorMutation, RjCaseMutation, RjPartyMutation, RjConferenceMutation):
    pass
