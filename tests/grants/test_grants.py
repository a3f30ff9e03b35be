"""Grants: who may record them, what a valid one holds, optimistic updates, audit, and targets against actuals."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import col, select

from gateway.audit.models import AuditEntry
from gateway.auth.principal import Role, Scope
from gateway.db import AsyncSession
from gateway.errors import Conflict, Forbidden, ValidationFailed
from gateway.grants.models import FundingSource, GrantTarget, TargetMeasure
from gateway.grants.service import GrantInput, GrantTargetInput, create_grant, list_grants, update_grant
from gateway.monitoring.service import Rag, monitoring_report
from tests.support.casework import YEAR_START, Clock, commissioner, grant_manager, supported_case
from tests.support.domain import World, key

GRANT = GrantInput(
    provider_slug="cpn",
    reference="OPCC-VSG-2025-CPN",
    amount_pence=400_000,
    first_financial_year=2025,
    last_financial_year=2025,
    funding_source=FundingSource.MOJ_VICTIMS_SERVICES_GRANT,
    services_funded=("Face-to-face visits",),
    targets=(
        GrantTargetInput(TargetMeasure.REFERRALS_RECEIVED_PER_QUARTER, 6),
        GrantTargetInput(TargetMeasure.COPE_AND_RECOVER_IMPROVED_SHARE, 90),
        GrantTargetInput(TargetMeasure.CASES_COMPLETED_PER_QUARTER, 5),
    ),
)


async def test_the_grant_manager_records_and_updates_a_grant_and_both_are_audited(
    db: AsyncSession, world: World
) -> None:
    # Given the Commissioner's grant manager records a grant
    manager, analyst = grant_manager(world), commissioner(world)
    grant = await create_grant(db=db, actor=manager, grant=GRANT, idempotency_key=key())
    await db.commit()
    grant_id = grant.id
    assert grant_id is not None and (grant.version, grant.amount_pence, grant.funding_source) == (
        1,
        400_000,
        "moj-victims-services-grant",
    )

    # When it replaces the targets from the version it saw, and then tries again from the stale version
    changed = replace(
        GRANT, amount_pence=450_000, targets=(GrantTargetInput(TargetMeasure.FEELING_SAFER_IMPROVED_SHARE, 50),)
    )
    updated = await update_grant(
        db=db, actor=manager, grant_id=grant_id, expected_version=1, grant=changed, idempotency_key=key()
    )
    await db.commit()
    seen = (updated.version, updated.amount_pence)
    with pytest.raises(Conflict):
        await update_grant(
            db=db, actor=manager, grant_id=grant_id, expected_version=1, grant=GRANT, idempotency_key=key()
        )
    await db.rollback()

    # Then the grant holds the new amount and only the new target, and both changes are in the audit log
    assert seen == (2, 450_000)
    targets = (await db.exec(select(GrantTarget).where(col(GrantTarget.grant_id) == grant_id))).all()
    assert [(t.measure, t.value) for t in targets] == [("feeling-safer-improved-share", 50.0)]
    actions = (await db.exec(select(AuditEntry.action).where(col(AuditEntry.action).like("grant.%")))).all()
    assert list(actions) == ["grant.create", "grant.update"]
    # And the analyst reads them
    assert [g.reference for g in await list_grants(db=db, actor=analyst, financial_year=2025)] == [GRANT.reference]
    assert await list_grants(db=db, actor=analyst, financial_year=2026) == []


async def test_the_analyst_reads_grants_and_may_not_record_or_change_one(db: AsyncSession, world: World) -> None:
    # Given a grant the grant manager recorded
    grant = await create_grant(db=db, actor=grant_manager(world), grant=GRANT, idempotency_key=key())
    await db.commit()
    assert grant.id is not None
    analyst = commissioner(world)
    assert Scope.GRANTS_WRITE not in analyst.scopes

    # When the analyst tries to record another, or to change this one, each is refused
    with pytest.raises(Forbidden):
        await create_grant(db=db, actor=analyst, grant=replace(GRANT, reference="OPCC-OTHER"), idempotency_key=key())
    await db.rollback()
    with pytest.raises(Forbidden):
        await update_grant(
            db=db,
            actor=analyst,
            grant_id=grant.id,
            expected_version=1,
            grant=replace(GRANT, amount_pence=1),
            idempotency_key=key(),
        )
    await db.rollback()

    # Then nothing changed, and the analyst still reads the grant
    [listed] = await list_grants(db=db, actor=analyst)
    assert (listed.reference, listed.amount_pence, listed.version) == (GRANT.reference, 400_000, 1)


async def test_only_the_grant_manager_or_an_administrator_records_grants(db: AsyncSession, world: World) -> None:
    caseworker = world.caseworker("cpn")
    provider_with_scope = replace(caseworker, scopes=frozenset({*caseworker.scopes, Scope.GRANTS_WRITE}))
    administrator = world.person("hub", Role.ADMINISTRATOR, user_id=99)

    with pytest.raises(Forbidden):
        await create_grant(db=db, actor=provider_with_scope, grant=GRANT, idempotency_key=key())
    await db.rollback()
    with pytest.raises(Forbidden):
        await create_grant(db=db, actor=world.coordinator, grant=GRANT, idempotency_key=key())
    await db.rollback()
    created = await create_grant(db=db, actor=administrator, grant=GRANT, idempotency_key=key())

    assert created.reference == GRANT.reference


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"services_funded": ("Home security checks",)}, "services in the provider's profile"),
        ({"amount_pence": 0}, "positive whole number of pence"),
        ({"first_financial_year": 2026, "last_financial_year": 2025}, "whole financial years"),
        ({"targets": (GrantTargetInput(TargetMeasure.FEELING_SAFER_IMPROVED_SHARE, 120),)}, "between 0 and 100"),
        ({"provider_slug": "nobody"}, "Unknown provider"),
    ],
)
async def test_an_invalid_grant_is_refused_with_the_reason(
    db: AsyncSession, world: World, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await create_grant(db=db, actor=grant_manager(world), grant=replace(GRANT, **change), idempotency_key=key())  # type: ignore[arg-type]

    assert message in refused.value.message


async def test_targets_are_measured_against_actuals_with_red_amber_green_and_cost_per_case(
    db: AsyncSession, world: World, clock: Clock
) -> None:
    # Given a 4,000-pound grant for 2025/26 and five CPN cases supported in 2025-Q1, all improved
    await create_grant(db=db, actor=grant_manager(world), grant=GRANT, idempotency_key=key())
    for index in range(5):
        await supported_case(
            db,
            world,
            clock,
            provider="cpn",
            sent_at=YEAR_START + timedelta(days=index),
            contact_after=timedelta(hours=2),
        )
    await db.commit()

    # When the Commissioner looks at the quarter
    report = await monitoring_report(db=db, actor=commissioner(world), first_period="2025-Q1", last_period="2025-Q1")

    # Then a quarter of the grant is set against five cases, and each target has its status
    cpn = next(r for r in report.rows if r.provider_slug == "cpn")
    assert (cpn.cost.grant_pence, cpn.cost.cost_per_completed_case_pence) == (100_000, 20_000)
    assert [(t.measure, t.target, t.actual, t.status) for t in cpn.targets] == [
        ("cases-completed-per-quarter", 5.0, 5.0, Rag.GREEN),
        ("cope-and-recover-improved-share", 90.0, 100.0, Rag.GREEN),
        ("referrals-received-per-quarter", 6.0, 5.0, Rag.RED),
    ]
