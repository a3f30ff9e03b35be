"""Erasure by the retention schedule over a year of casework aged forward (priority 1 of issue 19)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlmodel import select

from gateway.audit.service import verify_chain
from gateway.data_protection.schedule import RecordKind
from gateway.data_protection.service import lift_legal_hold, place_legal_hold, run_retention
from gateway.data_protection.service.retention_victims import VICTIM_KINDS
from gateway.db import AsyncSession
from gateway.referrals.models import Case
from tests.data_protection.year import (
    erasure_rows,
    make_year,
    monitoring_figures,
    officer,
    sessions_for,
    tables_holding,
)
from tests.support.casework import YEAR_START, Clock
from tests.support.domain import World, key

VICTIMS = 24
SEVEN_YEARS_ON = YEAR_START + timedelta(days=7 * 365 + 60)


async def test_a_year_aged_forward_leaves_nothing_past_its_time_and_the_figures_unchanged(
    db: AsyncSession, world: World, clock: Clock, database_url: str
) -> None:
    # Given a year of casework, one victim under a legal hold, and the Commissioner's figures for that year
    made = await make_year(db, world, clock, VICTIMS)
    held, erased = made[0], made[1:]
    await place_legal_hold(
        db=db, actor=officer(world), victim_id=held.victim_id, reason="Proceedings pending.", idempotency_key=key()
    )
    await db.commit()
    before = await monitoring_figures(db, world)

    # When the schedule runs seven years on
    async with sessions_for(database_url) as sessions:
        report = await run_retention(sessions=sessions, now=SEVEN_YEARS_ON)

    # Then no personal value of an erased victim is left in any table
    for victim in erased:
        for mark in victim.marks:
            assert await tables_holding(db, mark) == [], mark
    assert await tables_holding(db, "Zqintake") == []
    # while the held victim is untouched
    assert await tables_holding(db, held.marks[0]) == ["victims"]
    assert await tables_holding(db, held.marks[6]) == ["cases"]
    case = (await db.exec(select(Case).where(Case.victim_id == held.victim_id))).one()
    assert case.assessment_notes == held.marks[7]
    await db.commit()
    # And the Commissioner's figures for the year, published and raw, are exactly as they were
    assert await monitoring_figures(db, world) == before
    # And the chain verifies, with one erasure row per erased record, naming the kind and never the data
    assert await verify_chain(db) is None
    rows = await erasure_rows(db)
    assert len(rows) == report.total
    assert Counter(RecordKind(r.subject_ids["kind"]) for r in rows) == +Counter(report.counts)
    assert len({tuple(sorted(r.subject_ids.items(), key=str)) for r in rows}) == len(rows)
    completed = sum(1 for i in range(1, VICTIMS) if i % 5 != 4)
    assert report.counts[RecordKind.VICTIM_IDENTITY] == VICTIMS - 1
    assert report.counts[RecordKind.CASE] == VICTIMS - 1
    assert report.counts[RecordKind.CONTACT_ATTEMPT] == completed
    assert report.counts[RecordKind.CONSENT] == sum(1 for i in range(1, VICTIMS) if i % 3 == 0)
    assert report.counts[RecordKind.INTAKE_UNTRIAGED] == 1
    assert (report.victims, report.held) == (VICTIMS - 1, 1)
    for row in rows:
        assert row.actor == "client:retention-schedule"
        for victim in made:
            assert not any(mark in str(row.subject_ids) + row.purpose for mark in victim.marks)

    # And running it again erases nothing more and logs nothing more
    async with sessions_for(database_url) as sessions:
        again = await run_retention(sessions=sessions, now=SEVEN_YEARS_ON)
    assert again.total == 0
    assert len(await erasure_rows(db)) == len(rows)


async def test_a_dry_run_counts_what_a_run_would_erase_and_changes_nothing(
    db: AsyncSession, world: World, clock: Clock, database_url: str
) -> None:
    # Given a few victims past their time
    made = await make_year(db, world, clock, 4)
    await db.commit()

    # When the schedule runs dry, then for real
    async with sessions_for(database_url) as sessions:
        dry = await run_retention(sessions=sessions, now=SEVEN_YEARS_ON, dry_run=True)
        assert await erasure_rows(db) == []
        assert await tables_holding(db, made[0].marks[0]) == ["victims"]
        real = await run_retention(sessions=sessions, now=SEVEN_YEARS_ON)

    # Then the dry run counted exactly what the real run erased
    assert dry.total > 0
    assert dry.counts == real.counts


async def test_nothing_is_erased_before_its_time_and_a_lifted_hold_lets_erasure_proceed(
    db: AsyncSession, world: World, clock: Clock, database_url: str
) -> None:
    # Given victims whose support closed in 2025, one held
    made = await make_year(db, world, clock, 3)
    hold = await place_legal_hold(
        db=db, actor=officer(world), victim_id=made[0].victim_id, reason="Inquest.", idempotency_key=key()
    )
    await db.commit()

    async with sessions_for(database_url) as sessions:
        # When the schedule runs three years on: only the contact attempts (two years) are past their time
        early = await run_retention(sessions=sessions, now=YEAR_START + timedelta(days=3 * 365 + 60))
        assert early.counts[RecordKind.CONTACT_ATTEMPT] == 2
        assert all(early.counts[k] == 0 for k in VICTIM_KINDS if k is not RecordKind.CONTACT_ATTEMPT)
        assert await tables_holding(db, made[1].marks[0]) == ["victims"]
        await db.commit()  # ends the read; a rollback would expire the world's rows

        # And once the hold is lifted, seven years on, the held victim goes too
        assert hold.id is not None
        await lift_legal_hold(db=db, actor=officer(world), hold_id=hold.id, idempotency_key=key())
        await db.commit()
        late = await run_retention(sessions=sessions, now=SEVEN_YEARS_ON)
    assert late.counts[RecordKind.VICTIM_IDENTITY] == 3
    assert late.counts[RecordKind.OFFICER_NOTE] == 1  # the lifted hold's reason
    assert await tables_holding(db, "Inquest.") == []
