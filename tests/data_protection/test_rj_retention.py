"""RJ parties and notes go six years after their case closed; the RJ figures the Commissioner sees do not change."""

from __future__ import annotations

from datetime import timedelta

from gateway.auth.principal import Role
from gateway.clock import utc_now
from gateway.data_protection.schedule import RecordKind
from gateway.data_protection.service import run_retention
from gateway.db import AsyncSession
from gateway.restorative_justice.models import CaseSource, ClosureReason, PartyRole
from gateway.restorative_justice.service import (
    PartyInput,
    add_party,
    close_case,
    create_direct_case,
    rj_quarterly_counts,
)
from providers.profile import CrimeCategory
from tests.data_protection.year import erasure_rows, sessions_for, tables_holding
from tests.support.domain import World, key

MARKS = ("Harmedzqrj", "Responsiblezqrj", "07700911122", "harmed.zqrj@example.test", "Call after six zqrj")


async def test_rj_parties_are_blanked_six_years_after_the_case_closed_and_the_rj_figures_stay(
    db: AsyncSession, world: World, database_url: str
) -> None:
    # Given an RJ case with two parties, closed today
    coordinator = world.person("rj-hub", Role.RJ_COORDINATOR, user_id=30)
    case = await create_direct_case(
        db=db,
        actor=coordinator,
        source=CaseSource.OFFICER,
        crime_category=CrimeCategory.VIOLENCE,
        idempotency_key=key(),
    )
    assert case.id is not None
    await add_party(
        db=db,
        actor=coordinator,
        case_id=case.id,
        party=PartyInput(
            PartyRole.HARMED, MARKS[0], "Zqrj", phone=MARKS[2], email=MARKS[3], safe_contact_notes=MARKS[4]
        ),
        idempotency_key=key(),
    )
    await add_party(
        db=db,
        actor=coordinator,
        case_id=case.id,
        party=PartyInput(PartyRole.RESPONSIBLE, MARKS[1], "Zqrj"),
        idempotency_key=key(),
    )
    await close_case(
        db=db, actor=coordinator, case_id=case.id, reason=ClosureReason.UNABLE_TO_CONTACT, idempotency_key=key()
    )
    await db.commit()
    now = utc_now()
    quarter = (now - timedelta(days=1), now + timedelta(days=1))
    before = await rj_quarterly_counts(db=db, starts_at=quarter[0], ends_at=quarter[1])
    await db.commit()

    async with sessions_for(database_url) as sessions:
        # When the schedule runs five years on, nothing of the case goes
        early = await run_retention(sessions=sessions, now=now + timedelta(days=5 * 365))
        assert early.counts[RecordKind.RJ_PARTY] == 0
        assert await tables_holding(db, MARKS[0]) == ["rj_parties"]
        # And seven years on, both parties' personal fields go, each logged once
        late = await run_retention(sessions=sessions, now=now + timedelta(days=7 * 365))
    assert late.counts[RecordKind.RJ_PARTY] == 2
    for mark in MARKS:
        assert await tables_holding(db, mark) == [], mark
    rows = [r for r in await erasure_rows(db) if r.subject_ids["kind"] == RecordKind.RJ_PARTY.value]
    assert len(rows) == 2 and {r.actor_organisation_id for r in rows} == {world.org_id("rj-hub")}
    # And the RJ hub's counts for the quarter the case ran in are unchanged
    assert await rj_quarterly_counts(db=db, starts_at=quarter[0], ends_at=quarter[1]) == before
