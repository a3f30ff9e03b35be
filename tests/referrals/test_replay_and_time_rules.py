"""A retry replays what the first request acted on, as it is now; every moment on a task keeps the same time rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import SQLModel, col, select

from gateway.audit.models import AuditEntry
from gateway.auth.principal import Principal
from gateway.clock import ALLOWED_CLOCK_SKEW, as_utc, utc_now
from gateway.consent.models import Consent
from gateway.consent.service import record_consent
from gateway.db import AsyncSession
from gateway.errors import InvalidTransition, ValidationFailed
from gateway.events.models import OutboxEvent
from gateway.grants.models import FundingSource
from gateway.grants.service import GrantInput, create_grant, update_grant
from gateway.idempotency.models import IdempotencyRecord
from gateway.outcomes.models import MeasureResult, OutcomeRecord
from gateway.outcomes.service import OutcomeRecordInput, complete_task, complete_task_with_outcome
from gateway.referrals.models import ContactAttempt, FailReason, ReferralTask
from gateway.referrals.service import (
    accept_task,
    fail_task,
    hold_task,
    mark_task_entered_in_error,
    record_contact_attempt,
    record_first_contact,
    resume_task,
    schedule_appointment,
    send_task,
    withdraw_consent,
)
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import RiskLevel
from tests.restorative_justice.conftest import RjWorld, new_case, rjw
from tests.support.casework import Clock, clock, grant_manager, sent_task
from tests.support.domain import World, consent_for, count, key, make_referral, make_sent_task

__all__ = ["clock", "rjw"]

# Rows any write adds: a replay must add none of them.
WRITES: tuple[type[SQLModel], ...] = (
    ReferralTask,
    ContactAttempt,
    OutcomeRecord,
    Consent,
    AuditEntry,
    OutboxEvent,
    IdempotencyRecord,
)

AN_OUTCOME = OutcomeRecordInput(
    informed_and_empowered=MeasureResult.IMPROVED,
    health_and_wellbeing=MeasureResult.IMPROVED,
    cope_and_recover=MeasureResult.NOT_IMPROVED,
    feeling_safer=MeasureResult.NOT_ASKED,
)


async def _writes(db: AsyncSession) -> dict[str, int]:
    return {model.__name__: await count(db, model) for model in WRITES}


def _id(row: ReferralTask) -> int:
    assert row.id is not None
    return row.id


@dataclass(frozen=True)
class Seen:
    """A task's id and version as the provider saw them (rows expire when a refusal rolls back)."""

    id: int
    version: int

    @classmethod
    def of(cls, task: ReferralTask) -> Seen:
        return cls(_id(task), task.version)


async def _accepted(db: AsyncSession, world: World) -> ReferralTask:
    task = await make_sent_task(db, world, "cpn")
    return await accept_task(
        db=db, actor=world.caseworker("cpn"), task_id=_id(task), expected_version=task.version, idempotency_key=key()
    )


async def _contacted(db: AsyncSession, world: World) -> ReferralTask:
    task = await _accepted(db, world)
    return await record_first_contact(
        db=db,
        actor=world.caseworker("cpn"),
        task_id=_id(task),
        expected_version=task.version,
        contacted_at=utc_now(),
        idempotency_key=key(),
    )


async def _reload(db: AsyncSession, task_id: int) -> ReferralTask:
    return (
        await db.exec(
            select(ReferralTask).where(col(ReferralTask.id) == task_id).execution_options(populate_existing=True)
        )
    ).one()


# --- Idempotent replay: the first request's row, as it is now -------------------------------------------------


async def test_a_late_retry_of_accept_returns_the_task_as_it_is_now_and_changes_nothing(
    db: AsyncSession, world: World
) -> None:
    # Given a task the CPN accepted with a key (version 2 -> 3), then worked on: first contact (-> 4)
    cpn = world.caseworker("cpn")
    task = await make_sent_task(db, world, "cpn")
    first = await accept_task(db=db, actor=cpn, task_id=_id(task), expected_version=2, idempotency_key="accept-late")
    first_answer = (first.status, first.version)
    await record_first_contact(
        db=db, actor=cpn, task_id=_id(task), expected_version=3, contacted_at=utc_now(), idempotency_key=key()
    )
    await db.commit()
    before = await _writes(db)

    # When the client that never saw the accept's answer retries it with the same key and the same version
    replayed = await accept_task(db=db, actor=cpn, task_id=_id(task), expected_version=2, idempotency_key="accept-late")

    # Then it is the task as it is now (not the first answer, not a conflict), and nothing was done again
    assert first_answer == ("accepted", 3)
    assert (replayed.id, replayed.status, replayed.version) == (task.id, "in-progress", 4)
    assert await _writes(db) == before


async def test_a_replayed_accept_after_consent_withdrawal_answers_the_cancelled_task(
    db: AsyncSession, world: World
) -> None:
    # Given a task the CPN accepted with a key, whose consent the Hub then withdrew
    cpn = world.caseworker("cpn")
    task = await make_sent_task(db, world, "cpn")
    assert task.consent_id is not None
    await accept_task(db=db, actor=cpn, task_id=_id(task), expected_version=2, idempotency_key="accept-withdrawn")
    await withdraw_consent(db=db, actor=world.coordinator, consent_id=task.consent_id, idempotency_key=key())
    await db.commit()
    before = await _writes(db)

    # When the CPN's client retries the accept
    replayed = await accept_task(
        db=db, actor=cpn, task_id=_id(task), expected_version=2, idempotency_key="accept-withdrawn"
    )

    # Then it learns the task was cancelled: a stored first answer would still say "accepted"
    assert (replayed.status, replayed.status_reason) == ("cancelled", "consent-withdrawn")
    assert await _writes(db) == before


Replay = Callable[[AsyncSession, World, str], Awaitable[tuple[object, object]]]


async def _send_then_accepted(db: AsyncSession, world: World, repeat: str) -> tuple[object, object]:
    _, [draft] = await make_referral(db, world, providers=("cpn",))
    send = {"db": db, "actor": world.coordinator, "task_id": _id(draft), "expected_version": 1}
    await send_task(**send, idempotency_key=repeat)  # type: ignore[arg-type]
    await accept_task(
        db=db, actor=world.caseworker("cpn"), task_id=_id(draft), expected_version=2, idempotency_key=key()
    )
    await db.commit()
    before = await _writes(db)
    replayed = await send_task(**send, idempotency_key=repeat)  # type: ignore[arg-type]
    return (replayed.status, replayed.version, await _writes(db) == before), ("accepted", 3, True)


async def _first_contact_then_held(db: AsyncSession, world: World, repeat: str) -> tuple[object, object]:
    cpn = world.caseworker("cpn")
    task = await _accepted(db, world)
    version = task.version  # the row object itself moves on with every change the session makes
    moment = utc_now()
    change = {"db": db, "actor": cpn, "task_id": _id(task), "expected_version": version, "contacted_at": moment}
    await record_first_contact(**change, idempotency_key=repeat)  # type: ignore[arg-type]
    await hold_task(db=db, actor=cpn, task_id=_id(task), expected_version=version + 1, idempotency_key=key())
    await db.commit()
    before = await _writes(db)
    replayed = await record_first_contact(**change, idempotency_key=repeat)  # type: ignore[arg-type]
    return (replayed.status, replayed.version, await _writes(db) == before), ("on-hold", version + 2, True)


async def _completed_then_entered_in_error(db: AsyncSession, world: World, repeat: str) -> tuple[object, object]:
    task = await _contacted(db, world)
    version = task.version
    change = {"db": db, "actor": world.caseworker("cpn"), "task_id": _id(task), "expected_version": version}
    await complete_task_with_outcome(**change, outcome=AN_OUTCOME, idempotency_key=repeat)  # type: ignore[arg-type]
    await mark_task_entered_in_error(
        db=db, actor=world.supervisor, task_id=_id(task), expected_version=version + 1, idempotency_key=key()
    )
    await db.commit()
    before = await _writes(db)
    replayed = await complete_task_with_outcome(**change, outcome=AN_OUTCOME, idempotency_key=repeat)  # type: ignore[arg-type]
    return (replayed.status, replayed.version, await _writes(db) == before), ("entered-in-error", version + 2, True)


async def _consent_then_withdrawn(db: AsyncSession, world: World, repeat: str) -> tuple[object, object]:
    referral, _ = await make_referral(db, world, providers=("cpn",))
    recorded = {"db": db, "actor": world.coordinator, "victim_id": referral.victim_id, "consent": consent_for("cpn")}
    consent = await record_consent(**recorded, idempotency_key=repeat)  # type: ignore[arg-type]
    assert consent.id is not None
    await withdraw_consent(db=db, actor=world.coordinator, consent_id=consent.id, idempotency_key=key())
    await db.commit()
    before = await _writes(db)
    replayed = await record_consent(**recorded, idempotency_key=repeat)  # type: ignore[arg-type]
    return (replayed.id, replayed.withdrawn_at is not None, await _writes(db) == before), (consent.id, True, True)


async def _grant_then_updated_again(db: AsyncSession, world: World, repeat: str) -> tuple[object, object]:
    actor: Principal = grant_manager(world)
    grant = GrantInput(
        provider_slug="cpn",
        reference="OPCC-REPLAY-1",
        amount_pence=100_000,
        first_financial_year=2025,
        last_financial_year=2025,
        funding_source=FundingSource.PCC_CORE,
        services_funded=("Face-to-face visits",),
        targets=(),
    )
    row = await create_grant(db=db, actor=actor, grant=grant, idempotency_key=key())
    assert row.id is not None
    grant_id = row.id
    first = {"db": db, "actor": actor, "grant_id": grant_id, "expected_version": 1}
    await update_grant(**first, grant=replace(grant, amount_pence=200_000), idempotency_key=repeat)  # type: ignore[arg-type]
    await update_grant(
        db=db,
        actor=actor,
        grant_id=grant_id,
        expected_version=2,
        grant=replace(grant, amount_pence=300_000),
        idempotency_key=key(),
    )
    await db.commit()
    before = await _writes(db)
    replayed = await update_grant(**first, grant=replace(grant, amount_pence=200_000), idempotency_key=repeat)  # type: ignore[arg-type]
    return (replayed.version, replayed.amount_pence, await _writes(db) == before), (3, 300_000, True)


@pytest.mark.parametrize(
    "scenario",
    [_send_then_accepted, _first_contact_then_held, _completed_then_entered_in_error, _consent_then_withdrawn],
    ids=["send-task", "first-contact", "complete-task", "record-consent"],
)
async def test_every_late_retry_answers_the_row_as_it_is_now_and_does_nothing_again(
    db: AsyncSession, world: World, scenario: Replay
) -> None:
    # Given a mutation made with a key, then a later change to what it acted on; when the mutation is retried
    found, expected = await scenario(db, world, "late-retry")

    # Then the answer is the row's current state and no row of any kind was added
    assert found == expected


async def test_a_late_retry_of_a_grant_update_answers_the_grant_as_it_is_now(db: AsyncSession, world: World) -> None:
    # Given a grant updated with a key (version 2), then updated again (version 3); when the first update is retried
    found, expected = await _grant_then_updated_again(db, world, "grant-late-retry")

    # Then the answer is version 3 with the second update's amount, and nothing was written again
    assert found == expected


async def test_a_late_retry_of_an_rj_step_answers_the_case_as_it_is_now(db: AsyncSession, rjw: RjWorld) -> None:
    # Given an RJ case whose initial contact was recorded with a key, and which was then assessed
    built = await new_case(db, rjw)
    contact = {"db": db, "actor": rjw.coordinator, "case_id": built.id, "contacted_at": utc_now() - timedelta(hours=1)}
    await rj.record_initial_contact(**contact, idempotency_key="rj-late-retry")  # type: ignore[arg-type]
    await rj.record_assessment(
        db=db, actor=rjw.coordinator, case_id=built.id, suitable=True, risk_level=RiskLevel.LOW, idempotency_key=key()
    )
    await db.commit()
    before = await count(db, AuditEntry)

    # When the initial contact is retried with the same key
    replayed = await rj.record_initial_contact(**contact, idempotency_key="rj-late-retry")  # type: ignore[arg-type]

    # Then the case comes back at the stage it has reached, and nothing was recorded again
    assert (replayed.id, replayed.stage) == (built.id, "assessment")
    assert await count(db, AuditEntry) == before


# --- Time rules: not in the future, not before the task was sent ------------------------------------------------


async def _attempt(db: AsyncSession, world: World, task: Seen, moment: datetime) -> object:
    return await record_contact_attempt(
        db=db,
        actor=world.caseworker("cpn"),
        task_id=task.id,
        attempted_at=moment,
        method="phone",  # type: ignore[arg-type]
        result="no-answer",  # type: ignore[arg-type]
        idempotency_key=key(),
    )


async def _first_contact(db: AsyncSession, world: World, task: Seen, moment: datetime) -> object:
    return await record_first_contact(
        db=db,
        actor=world.caseworker("cpn"),
        task_id=task.id,
        expected_version=task.version,
        contacted_at=moment,
        idempotency_key=key(),
    )


async def _appointment(db: AsyncSession, world: World, task: Seen, moment: datetime) -> object:
    return await schedule_appointment(
        db=db,
        actor=world.caseworker("cpn"),
        task_id=task.id,
        expected_version=task.version,
        appointment_at=moment,
        idempotency_key=key(),
    )


RECORDERS = {
    "contact attempt": _attempt,
    "first contact": _first_contact,
    "appointment": _appointment,
}


@pytest.mark.parametrize("what", list(RECORDERS))
async def test_no_moment_on_a_task_can_be_before_the_task_was_sent(db: AsyncSession, world: World, what: str) -> None:
    # Given a task the CPN accepted
    task = await _accepted(db, world)
    assert task.requested_at is not None
    sent_at, seen = as_utc(task.requested_at), Seen.of(task)
    await db.commit()
    before = await _writes(db)

    # When it records the moment a minute before the Hub sent the task
    with pytest.raises(ValidationFailed) as refused:
        await RECORDERS[what](db, world, seen, sent_at - timedelta(minutes=1))
    await db.rollback()

    # Then it is refused with the one message for that rule, and nothing changed
    assert (refused.value.code, refused.value.message) == (
        "validation",
        f"The {what} cannot be before the task was sent.",
    )
    assert await _writes(db) == before
    reloaded = await _reload(db, seen.id)
    assert (reloaded.version, reloaded.first_contact_at, reloaded.appointment_at) == (seen.version, None, None)


@pytest.mark.parametrize("what", ["contact attempt", "first contact"])
async def test_no_moment_that_has_happened_can_be_in_the_future(db: AsyncSession, world: World, what: str) -> None:
    # Given a task the CPN accepted
    seen = Seen.of(await _accepted(db, world))
    await db.commit()
    before = await _writes(db)

    # When it records a contact beyond the allowed clock skew ahead of now
    with pytest.raises(ValidationFailed) as refused:
        await RECORDERS[what](db, world, seen, utc_now() + ALLOWED_CLOCK_SKEW + timedelta(minutes=1))
    await db.rollback()

    # Then it is refused with the one message for that rule, and nothing changed
    assert (refused.value.code, refused.value.message) == ("validation", f"The {what} cannot be in the future.")
    assert await _writes(db) == before


@pytest.mark.parametrize("what", list(RECORDERS))
async def test_a_moment_at_the_sending_itself_is_accepted(db: AsyncSession, world: World, what: str) -> None:
    # Given a task the CPN accepted; when it records the moment exactly when the task was sent
    task = await _accepted(db, world)
    assert task.requested_at is not None
    sent_at = as_utc(task.requested_at)
    await RECORDERS[what](db, world, Seen.of(task), sent_at)

    # Then it is recorded: the floor is inclusive
    reloaded = await _reload(db, _id(task))
    stored = {"first contact": reloaded.first_contact_at, "appointment": reloaded.appointment_at}
    if what in stored:
        moment = stored[what]
        assert moment is not None and as_utc(moment) == sent_at
    else:
        attempt = (await db.exec(select(ContactAttempt).where(col(ContactAttempt.task_id) == task.id))).one()
        assert as_utc(attempt.attempted_at) == sent_at


async def test_first_contact_may_come_before_the_provider_pressed_accept(
    db: AsyncSession, world: World, clock: Clock
) -> None:
    # Given a task sent at nine and accepted at ten past (the provider phoned the victim on reading it)
    sent_at = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    task = await sent_task(db, world, clock, provider="cpn", sent_at=sent_at)
    clock.now = sent_at + timedelta(minutes=10)
    task = await accept_task(
        db=db, actor=world.caseworker("cpn"), task_id=_id(task), expected_version=task.version, idempotency_key=key()
    )

    # When it records first contact at five past: after the sending, before the acceptance stamp
    done = await record_first_contact(
        db=db,
        actor=world.caseworker("cpn"),
        task_id=_id(task),
        expected_version=task.version,
        contacted_at=sent_at + timedelta(minutes=5),
        idempotency_key=key(),
    )

    # Then it is recorded: the target runs from the sending, and acceptance is only when the button was pressed
    assert done.accepted_at is not None and as_utc(done.accepted_at) == sent_at + timedelta(minutes=10)
    assert done.first_contact_at is not None and as_utc(done.first_contact_at) == sent_at + timedelta(minutes=5)
    assert done.status == "in-progress"


async def test_an_appointment_may_lie_ahead(db: AsyncSession, world: World) -> None:
    # Given a task the CPN accepted; when it books an appointment next week
    task = await _accepted(db, world)
    next_week = utc_now() + timedelta(days=7)
    done = await _appointment(db, world, Seen.of(task), next_week)

    # Then it is recorded
    assert isinstance(done, ReferralTask) and done.appointment_at is not None
    assert as_utc(done.appointment_at) == next_week


# --- Completion needs first contact; a task that never reached the victim is failed -----------------------------


@pytest.mark.parametrize("with_outcome", [True, False], ids=["complete-with-outcome", "complete"])
async def test_a_task_with_no_first_contact_cannot_be_completed(
    db: AsyncSession, world: World, with_outcome: bool
) -> None:
    # Given a task the CPN accepted but never reached the victim on
    task = await _accepted(db, world)
    task_id, version = _id(task), task.version
    await db.commit()
    before = await _writes(db)
    change = {"db": db, "actor": world.caseworker("cpn"), "task_id": task_id, "expected_version": version}

    completing = (
        complete_task_with_outcome(**change, outcome=AN_OUTCOME, idempotency_key=key())  # type: ignore[arg-type]
        if with_outcome
        else complete_task(**change, idempotency_key=key())  # type: ignore[arg-type]
    )

    # When it tries to complete it
    with pytest.raises(InvalidTransition) as refused:
        await completing
    await db.rollback()

    # Then it is refused, told to fail the task as unable to contact, and nothing changed
    assert refused.value.code == "invalid-transition"
    assert refused.value.message == (
        "A task with no first contact recorded cannot be completed: record the first contact, "
        "or fail the task as unable to contact."
    )
    assert await _writes(db) == before
    reloaded = await _reload(db, task_id)
    assert (reloaded.status, reloaded.version) == ("accepted", version)

    # And failing it with that reason closes it, with no outcome needed
    failed = await fail_task(**change, reason=FailReason.UNABLE_TO_CONTACT, idempotency_key=key())  # type: ignore[arg-type]
    assert (failed.status, failed.status_reason) == ("failed", "unable-to-contact")
    assert await count(db, OutcomeRecord) == 0


async def test_a_task_on_hold_with_no_first_contact_cannot_complete_after_resuming(
    db: AsyncSession, world: World
) -> None:
    # Given accepted work put on hold and resumed (so in progress) without the victim ever being reached
    cpn = world.caseworker("cpn")
    task = await _accepted(db, world)
    task = await hold_task(db=db, actor=cpn, task_id=_id(task), expected_version=task.version, idempotency_key=key())
    task = await resume_task(db=db, actor=cpn, task_id=_id(task), expected_version=task.version, idempotency_key=key())
    assert (task.status, task.first_contact_at) == ("in-progress", None)

    # When the CPN completes it with an outcome, it is refused all the same
    with pytest.raises(InvalidTransition):
        await complete_task_with_outcome(
            db=db,
            actor=cpn,
            task_id=_id(task),
            expected_version=task.version,
            outcome=AN_OUTCOME,
            idempotency_key=key(),
        )
