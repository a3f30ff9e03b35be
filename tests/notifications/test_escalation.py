"""The overdue sweep: each open task that missed a time limit is escalated once per kind, to the Hub and provider."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from gateway.clock import utc_now
from gateway.db import AsyncSession, create_engine, create_session_factory
from gateway.events.models import OutboxEvent
from gateway.notifications.escalation import Escalation, sweep_overdue_tasks
from gateway.notifications.models import EscalationKind, TaskEscalation
from gateway.referrals.service import accept_task, record_first_contact
from tests.support.domain import World, count, key, make_referral, make_sent_task

# Well past every provider's accept-by time and first-contact target.
LATER = timedelta(days=30)


async def _events(db: AsyncSession) -> list[tuple[str, int, int]]:
    rows = (await db.exec(select(OutboxEvent).order_by(col(OutboxEvent.id)))).all()
    return [(e.type, e.organisation_id, int(e.subject_ids["task"])) for e in rows if "overdue" in e.type]


async def test_an_unanswered_task_is_escalated_once_to_the_hub_and_the_provider(db: AsyncSession, world: World) -> None:
    # Given a task sent to CPN and never answered
    task = await make_sent_task(db, world, "cpn")
    await db.commit()
    assert task.id is not None
    hub, cpn = world.org_id("hub"), world.org_id("cpn")

    # When the sweep runs after the deadlines, twice
    first = await sweep_overdue_tasks(db=db, now=utc_now() + LATER)
    await db.commit()
    second = await sweep_overdue_tasks(db=db, now=utc_now() + LATER + timedelta(hours=1))
    await db.commit()

    # Then both kinds are escalated once, each told to the Hub and the provider, and the second sweep finds nothing
    assert first == [
        Escalation(task.id, EscalationKind.ACCEPT_OVERDUE),
        Escalation(task.id, EscalationKind.FIRST_CONTACT_OVERDUE),
    ]
    assert second == []
    assert await _events(db) == [
        ("task.accept-overdue", hub, task.id),
        ("task.accept-overdue", cpn, task.id),
        ("task.first-contact-overdue", hub, task.id),
        ("task.first-contact-overdue", cpn, task.id),
    ]
    assert await count(db, TaskEscalation) == 2


async def test_nothing_is_escalated_before_its_deadline(db: AsyncSession, world: World) -> None:
    await make_sent_task(db, world, "cpn")
    await db.commit()

    assert await sweep_overdue_tasks(db=db, now=utc_now() + timedelta(minutes=5)) == []
    assert await _events(db) == []


async def test_an_accepted_task_without_first_contact_is_escalated_for_contact_only(
    db: AsyncSession, world: World
) -> None:
    sent = await make_sent_task(db, world, "cpn")
    assert sent.id is not None
    task = await accept_task(
        db=db, actor=world.caseworker("cpn"), task_id=sent.id, expected_version=sent.version, idempotency_key=key()
    )
    await db.commit()

    found = await sweep_overdue_tasks(db=db, now=utc_now() + LATER)

    assert found == [Escalation(sent.id, EscalationKind.FIRST_CONTACT_OVERDUE)]
    assert task.status == "accepted"


async def test_a_contacted_task_a_draft_and_a_closed_task_are_not_escalated(db: AsyncSession, world: World) -> None:
    # A draft was never sent, so it has no deadline
    await make_referral(db, world, providers=("cpn",))
    # A task accepted and contacted in time
    sent = await make_sent_task(db, world, "rj-hub")
    assert sent.id is not None
    caseworker = world.caseworker("rj-hub")
    accepted = await accept_task(
        db=db, actor=caseworker, task_id=sent.id, expected_version=sent.version, idempotency_key=key()
    )
    await record_first_contact(
        db=db,
        actor=caseworker,
        task_id=sent.id,
        expected_version=accepted.version,
        contacted_at=utc_now(),
        idempotency_key=key(),
    )
    await db.commit()

    assert await sweep_overdue_tasks(db=db, now=utc_now() + LATER) == []


async def test_a_sweep_works_in_batches(db: AsyncSession, world: World) -> None:
    tasks = [await make_sent_task(db, world, "cpn") for _ in range(3)]
    await db.commit()
    when = utc_now() + LATER

    first = await sweep_overdue_tasks(db=db, now=when, limit=2)
    second = await sweep_overdue_tasks(db=db, now=when, limit=2)
    third = await sweep_overdue_tasks(db=db, now=when, limit=2)

    assert (len(first), len(second), third) == (4, 2, [])
    assert {e.task_id for e in first + second} == {t.id for t in tasks}


async def _sweep_alone(engine: AsyncEngine, when: object) -> list[Escalation]:
    async with create_session_factory(engine)() as session:
        found = await sweep_overdue_tasks(db=session, now=when)  # type: ignore[arg-type]
        await session.commit()
        return found


async def test_two_sweepers_at_once_escalate_each_task_once(db: AsyncSession, world: World, database_url: str) -> None:
    # Given overdue tasks, and two sweepers with their own connections racing over them
    for provider in ("cpn", "rj-hub", "cpn"):
        await make_sent_task(db, world, provider)
    await db.commit()
    engine = create_engine(database_url)
    when = utc_now() + LATER
    try:
        one, other = await asyncio.gather(_sweep_alone(engine, when), _sweep_alone(engine, when))
    finally:
        await engine.dispose()

    # Then between them every task and kind was escalated exactly once, with one event pair each
    assert len(one) + len(other) == 6
    assert len(set(one) | set(other)) == 6
    assert await count(db, TaskEscalation) == 6
    assert len(await _events(db)) == 12
