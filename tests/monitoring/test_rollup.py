"""The delivery rollup equals the full recomputation, cell for cell, after casework done through the real services."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlmodel import col, select

from gateway.cli import main
from gateway.clock import utc_now
from gateway.db import AsyncSession, create_engine, create_session_factory
from gateway.errors import DomainError
from gateway.monitoring.models import DeliveryRollup
from gateway.monitoring.periods import Quarter, quarter_containing, quarters_between
from gateway.monitoring.rollup import rebuild_rollup
from gateway.monitoring.service.cells import Cell, Metric
from gateway.monitoring.service.queries import count_cells, recompute_cells
from gateway.outcomes.models import MeasureResult
from gateway.outcomes.service import OutcomeRecordInput, complete_task_with_outcome
from gateway.referrals.models import CancelReason, FailReason, ReferralTask, RejectReason, TaskStatus
from gateway.referrals.service import (
    accept_task,
    add_referral_task,
    cancel_task,
    fail_task,
    hold_task,
    mark_task_entered_in_error,
    record_first_contact,
    reject_task,
    resume_task,
    send_task,
    withdraw_consent,
)
from gateway.victims.models import Victim
from tests.support.casework import YEAR_START, Clock, sent_task, supported_case
from tests.support.domain import World, consent_for, key, make_referral
from tests.test_cli import gateway

PROVIDERS = ("cpn", "rj-hub")
RANGES = [("2025-Q1", "2026-Q1"), ("2025-Q2", "2025-Q2"), ("2025-Q3", "2025-Q4")]
RESULTS = list(MeasureResult)
STEPS = [
    "accept", "reject", "contact", "complete", "cancel", "fail", "hold", "resume", "entered-in-error",
    "withdraw-consent", "re-route", "equality",
]  # fmt: skip
# What usually happens next to a task in each state.
LIKELY = {
    TaskStatus.REQUESTED.value: ["accept", "accept", "reject", "cancel"],
    TaskStatus.ACCEPTED.value: ["contact", "contact", "hold", "fail", "cancel"],
    TaskStatus.IN_PROGRESS.value: ["complete", "complete", "fail", "hold"],
    TaskStatus.ON_HOLD.value: ["resume", "cancel"],
}


async def assert_rollup_is_recomputation(db: AsyncSession) -> int:
    """Every range's cells and medians, from the rollup and from the tasks; returns how many cells were compared."""
    compared = 0
    for first, last in RANGES:
        quarters = quarters_between(Quarter.parse(first), Quarter.parse(last))
        rolled, rolled_medians = await count_cells(db=db, quarters=quarters)
        full, full_medians = await recompute_cells(db=db, quarters=quarters)
        assert rolled == full
        assert rolled_medians == full_medians
        compared += len(full)
    return compared


class People:
    """Who acts, taken once: a rolled-back transaction expires the organisations the world holds."""

    def __init__(self, world: World) -> None:
        self.caseworkers = {slug: world.caseworker(slug) for slug in PROVIDERS}
        self.coordinator = world.coordinator
        self.supervisor = world.supervisor


async def _step(db: AsyncSession, people: People, clock: Clock, rng: random.Random, task: ReferralTask) -> str:
    """One random thing that happens to a task, through the service that does it; refusals are part of life."""
    assert task.id is not None and task.requested_at is not None
    caseworker = people.caseworkers[task.provider_slug]
    change = {"db": db, "task_id": task.id, "expected_version": task.version, "idempotency_key": key()}
    # Mostly the next step of a case's life, sometimes anything at all (and then often refused).
    plausible = LIKELY.get(task.status)
    step = rng.choice(plausible) if plausible and rng.random() < 0.7 else rng.choice(STEPS)
    if step == "accept":
        await accept_task(actor=caseworker, **change)  # type: ignore[arg-type]
    elif step == "reject":
        await reject_task(actor=caseworker, reason=rng.choice(list(RejectReason)), **change)  # type: ignore[arg-type]
    elif step == "contact":
        # Contact at an odd number of seconds and microseconds, on either side of the bands' edges.
        delay = timedelta(hours=rng.choice([1, 23, 24, 47, 48, 60]), seconds=rng.randrange(-3, 4))
        await record_first_contact(actor=caseworker, contacted_at=task.requested_at + delay, **change)  # type: ignore[arg-type]
    elif step == "complete":
        outcome = OutcomeRecordInput(
            informed_and_empowered=rng.choice(RESULTS),
            health_and_wellbeing=rng.choice(RESULTS),
            cope_and_recover=rng.choice(RESULTS),
            feeling_safer=rng.choice(RESULTS),
        )
        await complete_task_with_outcome(actor=caseworker, outcome=outcome, **change)  # type: ignore[arg-type]
    elif step == "cancel":
        reason = rng.choice([CancelReason.VICTIM_REQUEST, CancelReason.REFERRED_ELSEWHERE])
        await cancel_task(actor=people.coordinator, reason=reason, **change)  # type: ignore[arg-type]
    elif step == "fail":
        await fail_task(actor=caseworker, reason=FailReason.UNABLE_TO_CONTACT, **change)  # type: ignore[arg-type]
    elif step == "hold":
        await hold_task(actor=caseworker, **change)  # type: ignore[arg-type]
    elif step == "resume":
        await resume_task(actor=caseworker, **change)  # type: ignore[arg-type]
    elif step == "entered-in-error":
        await mark_task_entered_in_error(actor=people.supervisor, **change)  # type: ignore[arg-type]
    elif step == "withdraw-consent" and task.consent_id is not None:
        await withdraw_consent(db=db, actor=people.coordinator, consent_id=task.consent_id, idempotency_key=key())
    elif step == "re-route":
        # The Hub sends the referral on to the other provider (its consent covers both).
        other = next(slug for slug in PROVIDERS if slug != task.provider_slug)
        added = await add_referral_task(
            db=db, actor=people.coordinator, referral_id=task.referral_id, provider_slug=other, idempotency_key=key()
        )
        assert added.id is not None
        await send_task(
            db=db, actor=people.coordinator, task_id=added.id, expected_version=added.version, idempotency_key=key()
        )
    elif step == "equality":
        # An equality answer corrected after sending: the breakdowns move for every task of the victim.
        victim = await db.get(Victim, task.victim_id)
        assert victim is not None
        victim.equality_sex = rng.choice(["female", "male", None, "Something typed"])
        victim.equality_ethnicity = rng.choice(["White", "asian", None, "free text"])
        db.add(victim)
        await db.flush()
    return step


async def _send(db: AsyncSession, world: World, clock: Clock, rng: random.Random, provider: str) -> ReferralTask:
    """A referral whose consent covers both providers, sent to one of them now."""
    consent = replace(
        consent_for(*PROVIDERS, given_at=clock.now - timedelta(minutes=10)), statistics_consent=rng.random() > 0.2
    )
    _, [draft] = await make_referral(db, world, providers=(provider,), consents=[consent])
    assert draft.id is not None
    return await send_task(
        db=db, actor=world.coordinator, task_id=draft.id, expected_version=draft.version, idempotency_key=key()
    )


@pytest.mark.parametrize("seed", [18, 2026])
async def test_a_generated_year_of_casework_keeps_the_rollup_equal_to_the_recomputation(
    db: AsyncSession, world: World, clock: Clock, seed: int
) -> None:
    rng = random.Random(seed)
    people = People(world)
    done: Counter[str] = Counter()
    for index in range(40):
        clock.now = YEAR_START + timedelta(days=index * 7, hours=rng.randrange(24), microseconds=rng.randrange(10**6))
        await _send(db, world, clock, rng, PROVIDERS[index % 2])
        await db.commit()
        sent = (
            await db.exec(
                select(col(ReferralTask.id), col(ReferralTask.status))
                .where(col(ReferralTask.status) != TaskStatus.DRAFT.value)
                .order_by(col(ReferralTask.id))
            )
        ).all()
        # Mostly open cases: closed ones refuse nearly everything.
        open_ids = [task_id for task_id, status in sent if status in LIKELY] or [task_id for task_id, _ in sent]
        every_id = [task_id for task_id, _ in sent]
        # A few days' work on the tasks sent so far, each change committed, or rolled back when refused.
        focus: int | None = None
        for _ in range(6):
            clock.now += timedelta(hours=rng.randrange(1, 60), seconds=rng.randrange(3600))
            # Often the case just worked on again, so cases go on through their lives.
            if focus is None or rng.random() < 0.5:
                focus = rng.choice(open_ids if rng.random() < 0.8 else every_id)
            chosen = await db.get(ReferralTask, focus, populate_existing=True)
            assert chosen is not None
            try:
                step = await _step(db, people, clock, rng, chosen)
            except DomainError:
                await db.rollback()
                for organisation in world.organisations.values():
                    await db.refresh(organisation)
            else:
                await db.commit()
                done[step] += 1
        if index % 8 == 7:
            await assert_rollup_is_recomputation(db)
    compared = await assert_rollup_is_recomputation(db)
    # The script did every kind of change, so the comparison covered each.
    assert set(done) == set(STEPS), done
    assert compared > 100


async def test_the_rebuild_gives_back_the_maintained_rollup(db: AsyncSession, world: World, clock: Clock) -> None:
    for index in range(6):
        await supported_case(
            db, world, clock, sent_at=YEAR_START + timedelta(days=40 * index), contact_after=timedelta(hours=30 + index)
        )
        await db.commit()
    rollup = DeliveryRollup.__table__  # type: ignore[attr-defined]
    maintained = sorted((await db.exec(sa.select(rollup).where(rollup.c.count != 0))).all())  # type: ignore[call-overload]
    await db.exec(sa.delete(rollup))
    await db.commit()
    assert await rebuild_rollup(db=db) == 6
    await db.commit()
    rebuilt = sorted((await db.exec(sa.select(rollup).where(rollup.c.count != 0))).all())  # type: ignore[call-overload]
    assert rebuilt == maintained
    assert maintained
    await assert_rollup_is_recomputation(db)


async def test_the_rebuild_command_repairs_a_rollup_written_around(
    db: AsyncSession, world: World, clock: Clock, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given supported cases, and then the rollup damaged by a write that went around the session
    for index in range(3):
        await supported_case(db, world, clock, sent_at=YEAR_START + timedelta(days=index), contact_after=timedelta(1))
    await db.commit()
    rollup = DeliveryRollup.__table__  # type: ignore[attr-defined]
    await (await db.connection()).execute(sa.update(rollup).values(count=rollup.c.count + 7))
    await db.commit()
    quarters = quarters_between(Quarter.parse("2025-Q1"), Quarter.parse("2025-Q1"))
    assert (await count_cells(db=db, quarters=quarters))[0] != (await recompute_cells(db=db, quarters=quarters))[0]
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)

    # When the command rebuilds it (in its own loop and transaction)
    result = await asyncio.to_thread(CliRunner().invoke, main, ["report", "rebuild-rollup"])

    # Then it says how many tasks it read, and the rollup is the recomputation again
    assert result.exit_code == 0, result.output
    assert "from 3 tasks" in result.output
    await db.rollback()  # a fresh snapshot for SQLite's reader
    await assert_rollup_is_recomputation(db)


@pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)
async def test_parallel_transitions_on_one_provider_quarter_lose_no_update(
    db: AsyncSession, world: World, clock: Clock, database_url: str
) -> None:
    # Given eight CPN tasks sent in one quarter, committed, so every change below moves the same rollup cells
    tasks: list[ReferralTask] = []
    for index in range(8):
        tasks.append(await sent_task(db, world, clock, provider="cpn", sent_at=YEAR_START + timedelta(hours=index)))
    await db.commit()
    clock.now = YEAR_START + timedelta(days=2)
    caseworker = world.caseworker("cpn")

    async def step(session: AsyncSession, kind: int, task_id: int, version: int) -> ReferralTask:
        change = {"db": session, "actor": caseworker, "task_id": task_id, "expected_version": version}
        if kind == 0:
            return await accept_task(idempotency_key=key(), **change)  # type: ignore[arg-type]
        if kind == 1:
            return await record_first_contact(contacted_at=clock.now, idempotency_key=key(), **change)  # type: ignore[arg-type]
        outcome = OutcomeRecordInput(
            informed_and_empowered=MeasureResult.IMPROVED,
            health_and_wellbeing=MeasureResult.NOT_IMPROVED,
            cope_and_recover=MeasureResult.IMPROVED,
            feeling_safer=MeasureResult.IMPROVED,
        )
        return await complete_task_with_outcome(outcome=outcome, idempotency_key=key(), **change)  # type: ignore[arg-type]

    victim_ids = [t.victim_id for t in tasks]
    engines = [create_engine(database_url) for _ in range(4)]
    loaded = asyncio.Barrier(len(engines))

    async def work(worker: int) -> list[str]:
        """Each worker takes two tasks through accept, contact and completion; worker 3 also races worker 0."""
        done: list[str] = []
        async with create_session_factory(engines[worker])() as session:
            mine = [tasks[worker * 2], tasks[worker * 2 + 1]] + ([tasks[0]] if worker == 3 else [])
            await loaded.wait()
            for task in mine:
                assert task.id is not None
                version = task.version
                for kind in range(3):
                    try:
                        moved = await step(session, kind, task.id, version)
                    except DomainError as refused:
                        await session.rollback()
                        done.append(refused.code)
                        break
                    version = moved.version
                    await session.commit()
                    done.append("moved")
            # And an equality answer corrected while the others work on the same victims' tasks
            victim = await session.get(Victim, victim_ids[(worker + 1) % len(victim_ids)])
            assert victim is not None
            victim.equality_sex = "male" if worker % 2 else "prefer-not-to-say"
            session.add(victim)
            await session.commit()
        return done

    # When four connections do it all at once
    try:
        results = await asyncio.gather(*(work(w) for w in range(len(engines))))
    finally:
        for engine in engines:
            await engine.dispose()

    # Then every transition counted once: eight completions, and the rollup is the recomputation
    assert sum(r.count("moved") for r in results) == 8 * 3
    quarters = quarters_between(Quarter.parse("2025-Q1"), Quarter.parse("2025-Q1"))
    cells, _ = await count_cells(db=db, quarters=quarters)
    cpn = world.org_id("cpn")
    assert cells[Cell(Metric.COMPLETED.value, "", cpn, 0)] == 8
    assert cells[Cell(Metric.ACCEPTED.value, "", cpn, 0)] == 8
    await assert_rollup_is_recomputation(db)


async def test_the_demo_seed_leaves_the_rollup_equal_to_the_recomputation(db: AsyncSession, database_url: str) -> None:
    # Given the demo data, made by `gateway seed demo` through the services in its own process
    seeded = await asyncio.to_thread(gateway, "seed", "demo", database_url=database_url)
    assert seeded.returncode == 0, seeded.stderr

    # Then the rollup holds what the tasks say, over the year to now
    now = quarter_containing(utc_now())
    first = Quarter(now.financial_year - 1, now.number)
    quarters = quarters_between(first, now)
    rolled, rolled_medians = await count_cells(db=db, quarters=quarters)
    full, full_medians = await recompute_cells(db=db, quarters=quarters)
    assert (rolled, rolled_medians) == (full, full_medians)
    assert sum(n for cell, n in full.items() if cell.metric == Metric.RECEIVED.value) > 0


async def test_a_change_left_unflushed_is_counted_at_commit_and_a_rolled_back_one_not_at_all(
    db: AsyncSession, world: World, clock: Clock
) -> None:
    # Given a sent task whose victim gave an answer other than "male"
    task = await sent_task(db, world, clock, provider="cpn", sent_at=YEAR_START + timedelta(hours=3))
    await db.commit()
    quarters = quarters_between(Quarter.parse("2025-Q1"), Quarter.parse("2025-Q1"))
    cpn = world.org_id("cpn")

    async def sexes() -> dict[str, int]:
        cells, _ = await count_cells(db=db, quarters=quarters)
        return {c.category: n for c, n in cells.items() if c.metric == Metric.SEX.value and c.provider == cpn}

    before = await sexes()

    # When the answer is corrected and committed with nothing flushed first
    victim = await db.get(Victim, task.victim_id)
    assert victim is not None
    victim.equality_sex = "male"
    db.add(victim)
    await db.commit()
    corrected = await sexes()
    # And then corrected again, flushed, and rolled back
    victim.equality_sex = "female"
    db.add(victim)
    await db.flush()
    await db.rollback()

    # Then the commit moved the count from one answer to the other, the rollback moved nothing
    assert sum(before.values()) == 1 and "male" not in before
    assert corrected == {"male": 1}
    assert await sexes() == corrected
    await assert_rollup_is_recomputation(db)


async def test_a_draft_made_and_changed_by_a_statement_in_one_transaction_is_counted(
    db: AsyncSession, world: World, clock: Clock
) -> None:
    # Given a referral's new draft, in the transaction that created it (the rollup skips reading a new draft that
    # has no dates, unless something changed it after its insert)
    clock.now = YEAR_START + timedelta(days=3)
    _, [draft] = await make_referral(db, world, providers=("cpn",), consents=[consent_for("cpn", given_at=clock.now)])
    assert draft.id is not None and draft.requested_at is None

    # When a statement the session runs, which leaves the loaded object as it was, sends it before the commit
    await db.exec(
        sa.update(ReferralTask)
        .where(col(ReferralTask.id) == draft.id)
        .values(status=TaskStatus.REQUESTED.value, requested_at=clock.now)
        .execution_options(synchronize_session=False)
    )
    assert draft.requested_at is None
    await db.commit()

    # Then the rollup counts it as received, as the recomputation does
    quarters = [quarter_containing(clock.now)]
    cells, _ = await count_cells(db=db, quarters=quarters)
    received = {c: n for c, n in cells.items() if c.metric == Metric.RECEIVED.value}
    assert list(received.values()) == [1]
    await assert_rollup_is_recomputation(db)
