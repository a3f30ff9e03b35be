"""The task lifecycle: allowed transitions, refused ones, terminal states, entered-in-error, follow-ups."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from gateway.events.models import OutboxEvent
from gateway.outcomes.models import MeasureResult
from gateway.outcomes.service import OutcomeRecordInput, complete_task, complete_task_with_outcome
from gateway.referrals.models import CancelReason, FailReason, ReferralTask, RejectReason
from gateway.referrals.service import (
    accept_task,
    cancel_task,
    create_follow_up_task,
    fail_task,
    hold_task,
    mark_task_entered_in_error,
    mark_task_viewed,
    record_contact_attempt,
    record_first_contact,
    reject_task,
    resume_task,
    schedule_appointment,
    set_task_waitlisted,
)
from tests.support.domain import World, key, make_referral, make_sent_task

AN_OUTCOME = OutcomeRecordInput(
    informed_and_empowered=MeasureResult.IMPROVED,
    health_and_wellbeing=MeasureResult.NOT_IMPROVED,
    cope_and_recover=MeasureResult.IMPROVED,
    feeling_safer=MeasureResult.NOT_ASKED,
)


def _id(task: ReferralTask) -> int:
    assert task.id is not None
    return task.id


async def _contacted(db: AsyncSession, world: World) -> ReferralTask:
    """A CPN task sent, accepted and with first contact made: work that can be completed."""
    cpn = world.caseworker("cpn")
    task = await make_sent_task(db, world, "cpn")
    task = await accept_task(db=db, actor=cpn, task_id=_id(task), expected_version=task.version, idempotency_key=key())
    return await record_first_contact(
        db=db,
        actor=cpn,
        task_id=_id(task),
        expected_version=task.version,
        contacted_at=utc_now(),
        idempotency_key=key(),
    )


async def test_a_task_goes_from_draft_to_completed_through_every_working_state(db: AsyncSession, world: World) -> None:
    # Given a referral to the CPN, sent under consent
    referral, [draft] = await make_referral(db, world, providers=("cpn",))
    assert (draft.status, draft.version, draft.reference) == ("draft", 1, f"{referral.reference}-CPN")
    assert referral.reference.startswith("REF-") and referral.reference.endswith(f"-{referral.id:06d}")
    cpn = world.caseworker("cpn")
    task = await make_sent_task(db, world, "cpn")
    task_id = _id(task)
    assert (task.status, task.version) == ("requested", 2)

    # When the provider views, accepts, tries contact, makes first contact, holds, resumes and completes
    await mark_task_viewed(db=db, actor=cpn, task_id=task_id)
    task = await accept_task(db=db, actor=cpn, task_id=task_id, expected_version=2, idempotency_key=key())
    assert (task.status, task.version) == ("accepted", 3)
    attempt = await record_contact_attempt(
        db=db,
        actor=cpn,
        task_id=task_id,
        attempted_at=utc_now(),
        method="phone",  # type: ignore[arg-type]
        result="no-answer",  # type: ignore[arg-type]
        idempotency_key=key(),
    )
    task = await record_first_contact(
        db=db, actor=cpn, task_id=task_id, expected_version=3, contacted_at=utc_now(), idempotency_key=key()
    )
    assert (task.status, task.version) == ("in-progress", 4)
    task = await schedule_appointment(
        db=db,
        actor=cpn,
        task_id=task_id,
        expected_version=4,
        appointment_at=utc_now() + timedelta(days=3),
        idempotency_key=key(),
    )
    task = await set_task_waitlisted(
        db=db, actor=cpn, task_id=task_id, expected_version=5, waitlisted=True, idempotency_key=key()
    )
    task = await hold_task(db=db, actor=cpn, task_id=task_id, expected_version=6, idempotency_key=key())
    assert task.status == "on-hold"
    task = await resume_task(db=db, actor=cpn, task_id=task_id, expected_version=7, idempotency_key=key())
    assert task.status == "in-progress"
    task = await complete_task_with_outcome(
        db=db, actor=cpn, task_id=task_id, expected_version=8, idempotency_key=key(), outcome=AN_OUTCOME
    )

    # Then every step landed, sub-status included, and the Hub was told of acceptance and completion
    assert (task.status, task.version) == ("completed", 9)
    assert task.viewed_at is not None and task.accepted_at is not None and task.first_contact_at is not None
    assert task.appointment_at is not None and task.waitlisted is True and task.closed_at is not None
    assert (attempt.task_id, attempt.method, attempt.result, attempt.recorded_by) == (
        task_id,
        "phone",
        "no-answer",
        "user:10",
    )
    events = (await db.exec(select(OutboxEvent).order_by(col(OutboxEvent.id)))).all()
    assert [(e.type, e.organisation_id) for e in events if e.subject_ids.get("task") == task_id] == [
        ("task.requested", world.org_id("cpn")),
        ("task.accepted", world.org_id("hub")),
        ("task.completed", world.org_id("hub")),
    ]


@pytest.mark.parametrize(
    ("setup", "attempt"),
    [
        ("requested", "complete"),
        ("requested", "hold"),
        ("requested", "resume"),
        ("requested", "fail"),
        ("accepted", "accept"),
        ("accepted", "reject"),
        ("accepted", "resume"),
        ("on-hold", "complete"),
    ],
)
async def test_transitions_outside_the_lifecycle_are_refused_and_change_nothing(
    db: AsyncSession, world: World, setup: str, attempt: str
) -> None:
    # Given a task in the setup state
    cpn = world.caseworker("cpn")
    task = await make_sent_task(db, world, "cpn")
    task_id = _id(task)
    if setup in {"accepted", "on-hold"}:
        task = await accept_task(
            db=db, actor=cpn, task_id=task_id, expected_version=task.version, idempotency_key=key()
        )
    if setup == "on-hold":
        task = await hold_task(db=db, actor=cpn, task_id=task_id, expected_version=task.version, idempotency_key=key())
    assert task.status == setup
    version = task.version
    await db.commit()
    operations = {
        "accept": lambda: accept_task(
            db=db, actor=cpn, task_id=task_id, expected_version=version, idempotency_key=key()
        ),
        "reject": lambda: reject_task(
            db=db,
            actor=cpn,
            task_id=task_id,
            expected_version=version,
            reason=RejectReason.NO_CAPACITY,
            idempotency_key=key(),
        ),
        "complete": lambda: complete_task(
            db=db, actor=cpn, task_id=task_id, expected_version=version, idempotency_key=key()
        ),
        "hold": lambda: hold_task(db=db, actor=cpn, task_id=task_id, expected_version=version, idempotency_key=key()),
        "resume": lambda: resume_task(
            db=db, actor=cpn, task_id=task_id, expected_version=version, idempotency_key=key()
        ),
        "fail": lambda: fail_task(
            db=db,
            actor=cpn,
            task_id=task_id,
            expected_version=version,
            reason=FailReason.UNABLE_TO_CONTACT,
            idempotency_key=key(),
        ),
    }

    # When the provider tries a transition the lifecycle does not have
    with pytest.raises(InvalidTransition) as refused:
        await operations[attempt]()
    await db.rollback()

    # Then it is refused with the code, and the task is as it was
    assert refused.value.code == "invalid-transition"
    reloaded = (await db.exec(select(ReferralTask).where(ReferralTask.id == task_id))).one()
    assert (reloaded.status, reloaded.version) == (setup, version)


async def test_terminal_states_stay_terminal(db: AsyncSession, world: World) -> None:
    # Given a rejected task and a completed task
    cpn = world.caseworker("cpn")
    rejected = await make_sent_task(db, world, "cpn")
    rejected = await reject_task(
        db=db,
        actor=cpn,
        task_id=_id(rejected),
        expected_version=rejected.version,
        reason=RejectReason.NO_CAPACITY,
        idempotency_key=key(),
    )
    done = await _contacted(db, world)
    done = await complete_task_with_outcome(
        db=db, actor=cpn, task_id=_id(done), expected_version=done.version, idempotency_key=key(), outcome=AN_OUTCOME
    )
    assert (rejected.status, rejected.status_reason, done.status) == ("rejected", "no-capacity", "completed")

    # When anyone tries to move them on, they stay put
    with pytest.raises(InvalidTransition):
        await accept_task(
            db=db, actor=cpn, task_id=_id(rejected), expected_version=rejected.version, idempotency_key=key()
        )
    with pytest.raises(InvalidTransition):
        await cancel_task(
            db=db,
            actor=world.coordinator,
            task_id=_id(rejected),
            expected_version=rejected.version,
            reason=CancelReason.VICTIM_REQUEST,
            idempotency_key=key(),
        )
    with pytest.raises(InvalidTransition):
        await hold_task(db=db, actor=cpn, task_id=_id(done), expected_version=done.version, idempotency_key=key())
    with pytest.raises(InvalidTransition):
        await record_contact_attempt(
            db=db,
            actor=cpn,
            task_id=_id(done),
            attempted_at=utc_now(),
            method="phone",  # type: ignore[arg-type]
            result="no-answer",  # type: ignore[arg-type]
            idempotency_key=key(),
        )


async def test_entered_in_error_is_for_hub_supervisors_only_and_is_final(db: AsyncSession, world: World) -> None:
    # Given a completed task
    cpn = world.caseworker("cpn")
    task = await _contacted(db, world)
    task = await complete_task_with_outcome(
        db=db, actor=cpn, task_id=_id(task), expected_version=task.version, idempotency_key=key(), outcome=AN_OUTCOME
    )

    # When a co-ordinator or the provider tries to mark it entered-in-error, they are refused
    with pytest.raises(Forbidden) as coordinator_refused:
        await mark_task_entered_in_error(
            db=db, actor=world.coordinator, task_id=_id(task), expected_version=task.version, idempotency_key=key()
        )
    with pytest.raises(Forbidden):
        await mark_task_entered_in_error(
            db=db, actor=cpn, task_id=_id(task), expected_version=task.version, idempotency_key=key()
        )
    assert coordinator_refused.value.code == "forbidden"

    # When a supervisor does, it moves even out of a terminal state
    task = await mark_task_entered_in_error(
        db=db, actor=world.supervisor, task_id=_id(task), expected_version=task.version, idempotency_key=key()
    )
    assert task.status == "entered-in-error"

    # Then nothing moves it again, not even another entered-in-error
    with pytest.raises(InvalidTransition):
        await mark_task_entered_in_error(
            db=db, actor=world.supervisor, task_id=_id(task), expected_version=task.version, idempotency_key=key()
        )
    event_types = [e.type for e in (await db.exec(select(OutboxEvent))).all() if e.subject_ids.get("task") == task.id]
    assert event_types[-1] == "task.entered-in-error"


async def test_a_stale_version_is_a_conflict(db: AsyncSession, world: World) -> None:
    # Given a requested task at version 2
    cpn = world.caseworker("cpn")
    task = await make_sent_task(db, world, "cpn")
    assert task.version == 2

    # When the provider acts on the version before the send
    with pytest.raises(Conflict) as stale:
        await accept_task(db=db, actor=cpn, task_id=_id(task), expected_version=1, idempotency_key=key())

    # Then it is a conflict and nothing changed
    assert stale.value.code == "conflict"
    await db.refresh(task)
    assert (task.status, task.version) == ("requested", 2)


async def test_cancel_takes_a_hub_reason_but_never_consent_withdrawn(db: AsyncSession, world: World) -> None:
    # Given a requested task
    task = await make_sent_task(db, world, "cpn")

    # When the Hub cancels it claiming consent withdrawal, it is told to withdraw the consent instead
    with pytest.raises(ValidationFailed):
        await cancel_task(
            db=db,
            actor=world.coordinator,
            task_id=_id(task),
            expected_version=task.version,
            reason=CancelReason.CONSENT_WITHDRAWN,
            idempotency_key=key(),
        )

    # When it cancels at the victim's request, the task is cancelled with that reason and the provider told
    task = await cancel_task(
        db=db,
        actor=world.coordinator,
        task_id=_id(task),
        expected_version=task.version,
        reason=CancelReason.VICTIM_REQUEST,
        idempotency_key=key(),
    )
    assert (task.status, task.status_reason) == ("cancelled", "victim-request")
    events = [e for e in (await db.exec(select(OutboxEvent))).all() if e.subject_ids.get("task") == task.id]
    assert [(e.type, e.organisation_id) for e in events][-1] == ("task.cancelled", world.org_id("cpn"))


async def test_rerouting_makes_a_new_draft_linked_to_the_finished_task(db: AsyncSession, world: World) -> None:
    # Given a task the CPN rejected and a case the RJ hub can also take
    cpn = world.caseworker("cpn")
    task = await make_sent_task(db, world, "cpn")
    task = await reject_task(
        db=db,
        actor=cpn,
        task_id=_id(task),
        expected_version=task.version,
        reason=RejectReason.NO_CAPACITY,
        idempotency_key=key(),
    )

    # When the Hub re-routes to the RJ hub and reopens with the CPN
    rerouted = await create_follow_up_task(
        db=db, actor=world.coordinator, task_id=_id(task), provider_slug="rj-hub", idempotency_key=key()
    )
    reopened = await create_follow_up_task(
        db=db, actor=world.coordinator, task_id=_id(task), provider_slug="cpn", idempotency_key=key()
    )

    # Then each is a new draft pointing at the old task, which stays rejected
    await db.refresh(task)
    assert task.status == "rejected"
    assert (rerouted.status, rerouted.replaces_task_id, rerouted.provider_slug) == ("draft", task.id, "rj-hub")
    assert (reopened.status, reopened.replaces_task_id, reopened.reference) == ("draft", task.id, f"{task.reference}-2")

    # And an unfinished task cannot be followed up, nor doubled for the same provider
    with pytest.raises(InvalidTransition):
        await create_follow_up_task(
            db=db, actor=world.coordinator, task_id=_id(reopened), provider_slug="cpn", idempotency_key=key()
        )
    with pytest.raises(ValidationFailed):
        await create_follow_up_task(
            db=db, actor=world.coordinator, task_id=_id(task), provider_slug="cpn", idempotency_key=key()
        )


async def test_a_provider_cannot_see_or_act_on_a_draft(db: AsyncSession, world: World) -> None:
    # Given a draft addressed to the CPN
    _, [draft] = await make_referral(db, world, providers=("cpn",))

    # When the CPN tries to accept it, it does not exist for them
    with pytest.raises(NotFound):
        await accept_task(
            db=db, actor=world.caseworker("cpn"), task_id=_id(draft), expected_version=1, idempotency_key=key()
        )


async def test_an_unknown_reason_code_is_a_validation_error(db: AsyncSession, world: World) -> None:
    task = await make_sent_task(db, world, "cpn")
    with pytest.raises(ValidationFailed) as refused:
        await reject_task(
            db=db,
            actor=world.caseworker("cpn"),
            task_id=_id(task),
            expected_version=task.version,
            reason="too-busy",  # type: ignore[arg-type]
            idempotency_key=key(),
        )
    assert refused.value.code == "validation" and "no-capacity" in refused.value.message
