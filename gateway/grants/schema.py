"""Thin resolvers for grants: the Commissioner's office and administrators record them; monitoring reads them."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.grants import service
from gateway.grants.inputs import CreateGrantInput, UpdateGrantInput
from gateway.grants.models import Grant
from gateway.grants.types import GrantType
from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.graphql.permissions import requires, requires_any
from gateway.graphql.results import OperationError, perform


async def _grant_types(db: AsyncSession, actor: Principal, rows: list[Grant]) -> list[GrantType]:
    ids = [r.id for r in rows if r.id is not None]
    targets = await service.load_targets_for_grants(db=db, actor=actor, grant_ids=ids)
    slugs = await service.provider_slugs_by_organisation(
        db=db, organisation_ids=sorted({r.provider_organisation_id for r in rows})
    )
    return [
        GrantType.from_row(r, provider_slug=slugs[r.provider_organisation_id], targets=targets.get(r.id or 0, []))
        for r in rows
    ]


@strawberry.type
class GrantPayload:
    grant: GrantType


GrantResult = Annotated[GrantPayload | OperationError, strawberry.union("GrantResult")]


@strawberry.type
class GrantQuery:
    @strawberry.field(
        description="Grants, optionally those covering one financial year (2026 is 2026/27).",
        permission_classes=[requires_any(Scope.GRANTS_WRITE, Scope.MONITORING_READ)],
    )
    async def grants(self, info: Info, financial_year: int | None = None) -> list[GrantType]:
        async def read(db: AsyncSession) -> list[GrantType]:
            actor = caller(info)
            return await _grant_types(
                db, actor, await service.list_grants(db=db, actor=actor, financial_year=financial_year)
            )

        return await info.context.session.run(read)


@strawberry.type
class GrantMutation:
    @strawberry.mutation(
        description="Record a grant to a provider with its targets.", permission_classes=[requires(Scope.GRANTS_WRITE)]
    )
    async def create_grant(self, info: Info, input: CreateGrantInput) -> GrantResult:
        async def create(db: AsyncSession) -> GrantPayload:
            actor = caller(info)
            row = await service.create_grant(
                db=db, actor=actor, grant=input.grant.values(), idempotency_key=input.idempotency_key
            )
            [grant] = await _grant_types(db, actor, [row])
            return GrantPayload(grant=grant)

        return await perform(info, create)

    @strawberry.mutation(
        description="Replace a grant and its targets, from the version you saw.",
        permission_classes=[requires(Scope.GRANTS_WRITE)],
    )
    async def update_grant(self, info: Info, input: UpdateGrantInput) -> GrantResult:
        async def update(db: AsyncSession) -> GrantPayload:
            actor = caller(info)
            row = await service.update_grant(
                db=db,
                actor=actor,
                grant_id=record_id(input.grant_id, "grant"),
                expected_version=input.expected_version,
                grant=input.grant.values(),
                idempotency_key=input.idempotency_key,
            )
            [grant] = await _grant_types(db, actor, [row])
            return GrantPayload(grant=grant)

        return await perform(info, update)
