"""Thin resolvers for the data-protection officer: subject access, the audit trail, holds and rectification."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gateway.auth.principal import Scope
from gateway.data_protection import service
from gateway.data_protection.inputs import LiftLegalHoldInput, PlaceLegalHoldInput, RectifyVictimInput
from gateway.data_protection.types import (
    AuditTrailEntry,
    AuditTrailPage,
    LegalHoldType,
    RectificationType,
    SubjectAccessExport,
)
from gateway.data_protection.vocabularies import AuditCategory
from gateway.db import AsyncSession
from gateway.errors import NotFound
from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.graphql.pagination import decode_cursor, next_cursor, page_size
from gateway.graphql.permissions import requires
from gateway.graphql.results import OperationError, perform

OFFICER = requires(Scope.DATA_PROTECTION)


@strawberry.type
class LegalHoldPayload:
    hold: LegalHoldType


@strawberry.type
class RectificationPayload:
    rectification: RectificationType


LegalHoldResult = Annotated[LegalHoldPayload | OperationError, strawberry.union("LegalHoldResult")]
RectificationResult = Annotated[RectificationPayload | OperationError, strawberry.union("RectificationResult")]


@strawberry.type
class DataProtectionQuery:
    @strawberry.field(
        description="Everything held about one victim and its disclosure trail (the data-protection officer only; "
        "the export is audited).",
        permission_classes=[OFFICER],
    )
    async def subject_access_export(self, info: Info, victim_id: strawberry.ID) -> SubjectAccessExport | None:
        async def read(db: AsyncSession) -> SubjectAccessExport:
            found = await service.subject_access_export(
                db=db, actor=caller(info), victim_id=record_id(victim_id, "victim")
            )
            return SubjectAccessExport.from_export(found)

        try:
            return await info.context.session.run(read)
        except NotFound:
            return None

    @strawberry.field(
        description="The s.62 log for one victim or one organisation, oldest first, filtered by time and category "
        "(the data-protection officer only).",
        permission_classes=[OFFICER],
    )
    async def audit_trail(
        self,
        info: Info,
        victim_id: strawberry.ID | None = None,
        organisation_id: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        categories: list[AuditCategory] | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> AuditTrailPage | None:
        limit = page_size(first)
        after_id = decode_cursor(after)

        async def read(db: AsyncSession) -> AuditTrailPage:
            rows = await service.audit_trail_page(
                db=db,
                actor=caller(info),
                victim_id=None if victim_id is None else record_id(victim_id, "victim"),
                organisation_id=None if organisation_id is None else record_id(organisation_id, "organisation"),
                since=since,
                until=until,
                categories=[AuditCategory(c) for c in categories or ()],
                after_id=after_id,
                first=limit,
            )
            return AuditTrailPage(
                items=[AuditTrailEntry.from_row(r) for r in rows], next_cursor=next_cursor(rows, limit)
            )

        try:
            return await info.context.session.run(read)
        except NotFound:
            return None

    @strawberry.field(description="The holds placed on one victim's records.", permission_classes=[OFFICER])
    async def legal_holds(self, info: Info, victim_id: strawberry.ID) -> list[LegalHoldType]:
        rows = await info.context.session.run(
            lambda db: service.list_legal_holds(db=db, actor=caller(info), victim_id=record_id(victim_id, "victim"))
        )
        return [LegalHoldType.from_row(r) for r in rows]


@strawberry.type
class DataProtectionMutation:
    @strawberry.mutation(
        description="Correct a victim's details; the old values are not kept, who, which fields and why are.",
        permission_classes=[OFFICER],
    )
    async def rectify_victim(self, info: Info, input: RectifyVictimInput) -> RectificationResult:
        async def change(db: AsyncSession) -> RectificationPayload:
            record = await service.rectify_victim(
                db=db,
                actor=caller(info),
                victim_id=record_id(input.victim_id, "victim"),
                corrections=[c.value_of() for c in input.corrections],
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
            return RectificationPayload(rectification=RectificationType.from_row(record))

        return await perform(info, change)

    @strawberry.mutation(
        description="Stop erasure of a victim's records (proceedings pending, say) until the hold is lifted.",
        permission_classes=[OFFICER],
    )
    async def place_legal_hold(self, info: Info, input: PlaceLegalHoldInput) -> LegalHoldResult:
        async def change(db: AsyncSession) -> LegalHoldPayload:
            hold = await service.place_legal_hold(
                db=db,
                actor=caller(info),
                victim_id=record_id(input.victim_id, "victim"),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
            return LegalHoldPayload(hold=LegalHoldType.from_row(hold))

        return await perform(info, change)

    @strawberry.mutation(
        description="Lift a legal hold; the victim's records fall under the retention schedule again.",
        permission_classes=[OFFICER],
    )
    async def lift_legal_hold(self, info: Info, input: LiftLegalHoldInput) -> LegalHoldResult:
        async def change(db: AsyncSession) -> LegalHoldPayload:
            hold = await service.lift_legal_hold(
                db=db,
                actor=caller(info),
                hold_id=record_id(input.hold_id, "legal hold"),
                idempotency_key=input.idempotency_key,
            )
            return LegalHoldPayload(hold=LegalHoldType.from_row(hold))

        return await perform(info, change)
