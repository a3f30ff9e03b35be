"""A year of casework with personal data that can be searched for, made through the real services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select

from gateway.audit.models import AuditEntry
from gateway.auth.principal import Principal, Role
from gateway.db import AsyncSession, create_engine, create_session_factory, metadata
from gateway.models import import_all_models
from gateway.monitoring.service import monitoring_report
from gateway.monitoring.service.access import parse_range
from gateway.monitoring.service.queries import count_cells
from gateway.outcomes.models import MeasureResult
from gateway.outcomes.service import OutcomeRecordInput, complete_task_with_outcome
from gateway.referrals.models import ContactMethod, ContactResult, RejectReason
from gateway.referrals.service import (
    SelfReferralSubmission,
    accept_task,
    record_contact_attempt,
    record_first_contact,
    reject_task,
    send_task,
    submit_self_referral,
)
from gateway.victims.models import AgeBand, Disability, Sex
from gateway.victims.service import EqualityInput, SafeContactInput
from tests.support.casework import YEAR_START, Clock, commissioner
from tests.support.domain import World, adult_victim, case_input, consent_for, key, make_referral

YEAR = ("2025-Q1", "2025-Q4")
PROVIDERS = ("cpn", "rj-hub")
ETHNICITIES = ("White", "asian", "Mixed heritage, in my own words", None, "prefer-not-to-say")


def officer(world: World) -> Principal:
    return world.person("hub", Role.DATA_PROTECTION_OFFICER, user_id=77)


@dataclass(frozen=True)
class MadeVictim:
    victim_id: int
    task_id: int
    consent_id: int
    marks: tuple[str, ...]  # every personal value written for this victim, each unique to them


async def casework_victim(
    db: AsyncSession, world: World, clock: Clock, index: int, *, provider: str, start: datetime = YEAR_START
) -> MadeVictim:
    """One victim, referred and sent; then completed, rejected, or left after two contact attempts and failed."""
    tag = f"zq{index:04d}"
    marks = (
        f"Given{tag}",
        f"Family{tag}",
        f"{index} Retention Road {tag}",
        f"0770{index:07d}",
        f"person.{tag}@example.test",
        f"Safe times {tag}",
        f"CR-{tag}",
        f"Assessment notes {tag}",
        f"Withheld {tag}",
    )
    victim = adult_victim(
        given_name=marks[0],
        family_name=marks[1],
        address=marks[2],
        phone=marks[3],
        email=marks[4],
        safe_contact=SafeContactInput(safe_phone="07700900002", safe_times=marks[5], voicemail_safe=True),
        equality=EqualityInput(
            age_band=list(AgeBand)[index % len(AgeBand)],
            sex=list(Sex)[index % len(Sex)],
            ethnicity=ETHNICITIES[index % len(ETHNICITIES)],
            disability=list(Disability)[index % len(Disability)],
        ),
    )
    sent_at = start + timedelta(days=8 * (index % 40), hours=index % 7)
    clock.now = sent_at - timedelta(minutes=5)
    consent = replace(
        consent_for(provider, given_at=clock.now - timedelta(minutes=10)),
        statistics_consent=index % 6 != 0,
        withheld_information=marks[8] if index % 3 == 0 else None,
        withheld_reason="Not relevant to the service." if index % 3 == 0 else None,
    )
    case = replace(case_input(), crime_reference=marks[6], assessment_notes=marks[7])
    referral, [draft] = await make_referral(
        db, world, providers=(provider,), consents=[consent], victim=victim, case=case
    )
    assert draft.id is not None
    clock.now = sent_at
    task = await send_task(
        db=db, actor=world.coordinator, task_id=draft.id, expected_version=draft.version, idempotency_key=key()
    )
    assert task.id is not None and task.consent_id is not None
    caseworker = world.caseworker(provider)
    clock.now = sent_at + timedelta(minutes=5)
    if index % 5 == 4:
        task = await reject_task(
            db=db,
            actor=caseworker,
            task_id=task.id,
            expected_version=task.version,
            idempotency_key=key(),
            reason=RejectReason.NO_CAPACITY,
        )
    else:
        task = await accept_task(
            db=db, actor=caseworker, task_id=draft.id, expected_version=task.version, idempotency_key=key()
        )
        assert task.id is not None
        clock.now = sent_at + timedelta(hours=2)
        await record_contact_attempt(
            db=db,
            actor=caseworker,
            task_id=task.id,
            attempted_at=clock.now,
            method=ContactMethod.PHONE,
            result=ContactResult.NO_ANSWER,
            idempotency_key=key(),
        )
        contacted_at = sent_at + timedelta(hours=3 + 11 * (index % 6))
        clock.now = contacted_at
        task = await record_first_contact(
            db=db,
            actor=caseworker,
            task_id=task.id,
            expected_version=task.version,
            contacted_at=contacted_at,
            idempotency_key=key(),
        )
        assert task.id is not None
        clock.now = contacted_at + timedelta(hours=1)
        improved = MeasureResult.IMPROVED if index % 2 else MeasureResult.NOT_IMPROVED
        task = await complete_task_with_outcome(
            db=db,
            actor=caseworker,
            task_id=task.id,
            expected_version=task.version,
            idempotency_key=key(),
            outcome=OutcomeRecordInput(
                informed_and_empowered=improved,
                health_and_wellbeing=MeasureResult.IMPROVED,
                cope_and_recover=MeasureResult.NOT_ASKED,
                feeling_safer=improved,
            ),
        )
    await db.commit()
    assert task.id is not None and referral.victim_id is not None
    return MadeVictim(referral.victim_id, task.id, task.consent_id or 0, marks)


async def make_year(
    db: AsyncSession, world: World, clock: Clock, victims: int, *, start: datetime = YEAR_START
) -> list[MadeVictim]:
    made = [
        await casework_victim(db, world, clock, index, provider=PROVIDERS[index % len(PROVIDERS)], start=start)
        for index in range(victims)
    ]
    # And a self-referral nobody triaged.
    await submit_self_referral(
        db=db,
        submission=SelfReferralSubmission(
            given_name="Untriaged", family_name="Zqintake", consent_to_contact=True, phone="07700999888"
        ),
        idempotency_key=key(),
    )
    await db.commit()
    return made


async def monitoring_figures(db: AsyncSession, world: World) -> tuple[Any, Any]:
    """The published report for the year and every raw count and median under it."""
    report = await monitoring_report(db=db, actor=commissioner(world), first_period=YEAR[0], last_period=YEAR[1])
    cells = await count_cells(db=db, quarters=parse_range(*YEAR))
    await db.commit()  # ends the read; a rollback would expire the world's rows
    return report, cells


async def table_texts(db: AsyncSession) -> dict[str, str]:
    """Every table's rows as one text, to search for values that should be gone."""
    import_all_models()
    connection = await db.connection()
    texts = {}
    for table in metadata.sorted_tables:
        rows = (await connection.execute(sa.select(table))).all()
        texts[table.name] = "\n".join("\t".join(str(value) for value in row) for row in rows)
    await db.commit()
    return texts


def holding(texts: dict[str, str], text: str) -> list[str]:
    return [name for name, content in texts.items() if text in content]


async def tables_holding(db: AsyncSession, text: str) -> list[str]:
    """Every table with a row in which the text appears in any column."""
    return holding(await table_texts(db), text)


async def erasure_rows(db: AsyncSession) -> list[AuditEntry]:
    rows = await db.exec(select(AuditEntry).where(col(AuditEntry.category) == "erasure"))
    found = list(rows.all())
    await db.commit()
    return found


@asynccontextmanager
async def sessions_for(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()
