"""Every event a partner must hear of is recorded for the right organisation, and nothing personal goes with it.

A referral is made with recognisable personal values and taken through every path; every outbox row, the webhook
payload rendered from it and the e-mail rendered from it are then searched for each of those values.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta

from sqlmodel import col, select

from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.events.models import EventType, OutboxEvent
from gateway.notifications.content import render, render_email
from gateway.notifications.escalation import sweep_overdue_tasks
from gateway.outcomes.models import MeasureResult
from gateway.outcomes.service import OutcomeRecordInput, complete_task_with_outcome
from gateway.referrals.models import CancelReason, FailReason, ReferralTask, RejectReason
from gateway.referrals.service import (
    accept_task,
    cancel_task,
    fail_task,
    mark_task_entered_in_error,
    record_first_contact,
    reject_task,
    withdraw_consent,
)
from gateway.restorative_justice import service as rj
from tests.restorative_justice.conftest import (
    HARMED_NAME,
    RESPONSIBLE_NAME,
    RjWorld,
    new_case,
    rjw,
    slot,
    to_preparation,
)
from tests.support.domain import (
    VICTIM_FAMILY_NAME,
    VICTIM_GIVEN_NAME,
    World,
    adult_victim,
    case_input,
    key,
    make_referral,
    make_sent_task,
)

__all__ = ["rjw"]  # the RJ world's fixture, bound for this module

VENUE = "Parkside Police Station, Room 1"
CANCEL_REASON = "Person harmed unwell after surgery"
PERSONAL = (
    VICTIM_GIVEN_NAME,
    VICTIM_FAMILY_NAME,
    "07700900001",
    "07700900002",
    "victim@example.test",
    "1 Example Street",
    "CB1 1AA",
    "Weekdays 09:00-12:00",
    "Polish",
    "Assessment notes for the test",
    *HARMED_NAME,
    *RESPONSIBLE_NAME,
    "07700900123",
    VENUE,
    "Parkside",
    CANCEL_REASON,
)
IMPROVED = OutcomeRecordInput(
    informed_and_empowered=MeasureResult.IMPROVED,
    health_and_wellbeing=MeasureResult.IMPROVED,
    cope_and_recover=MeasureResult.IMPROVED,
    feeling_safer=MeasureResult.IMPROVED,
)


async def _sent(db: AsyncSession, world: World, provider: str = "cpn") -> ReferralTask:
    task = await make_sent_task(db, world, provider)
    assert task.id is not None
    return task


async def _every_task_path(db: AsyncSession, world: World) -> dict[str, int]:
    """Tasks taken along every path that tells someone; their ids by path."""
    cpn = world.caseworker("cpn")
    ids: dict[str, int] = {}

    completed = await _sent(db, world)
    assert completed.id is not None
    ids["completed"] = completed.id
    step = await accept_task(
        db=db, actor=cpn, task_id=completed.id, expected_version=completed.version, idempotency_key=key()
    )
    step = await record_first_contact(
        db=db,
        actor=cpn,
        task_id=completed.id,
        expected_version=step.version,
        contacted_at=utc_now(),
        idempotency_key=key(),
    )
    await complete_task_with_outcome(
        db=db, actor=cpn, task_id=completed.id, expected_version=step.version, idempotency_key=key(), outcome=IMPROVED
    )

    rejected = await _sent(db, world)
    assert rejected.id is not None
    ids["rejected"] = rejected.id
    await reject_task(
        db=db,
        actor=cpn,
        task_id=rejected.id,
        expected_version=rejected.version,
        reason=RejectReason.NO_CAPACITY,
        idempotency_key=key(),
    )

    failed = await _sent(db, world)
    assert failed.id is not None
    ids["failed"] = failed.id
    step = await accept_task(
        db=db, actor=cpn, task_id=failed.id, expected_version=failed.version, idempotency_key=key()
    )
    await fail_task(
        db=db,
        actor=cpn,
        task_id=failed.id,
        expected_version=step.version,
        reason=FailReason.UNABLE_TO_CONTACT,
        idempotency_key=key(),
    )

    cancelled = await _sent(db, world)
    assert cancelled.id is not None
    ids["cancelled"] = cancelled.id
    await cancel_task(
        db=db,
        actor=world.coordinator,
        task_id=cancelled.id,
        expected_version=cancelled.version,
        reason=CancelReason.VICTIM_REQUEST,
        idempotency_key=key(),
    )

    in_error = await _sent(db, world)
    assert in_error.id is not None
    ids["entered-in-error"] = in_error.id
    await mark_task_entered_in_error(
        db=db, actor=world.supervisor, task_id=in_error.id, expected_version=in_error.version, idempotency_key=key()
    )

    withdrawn = await _sent(db, world)
    assert withdrawn.id is not None and withdrawn.consent_id is not None
    ids["withdrawn"] = withdrawn.id
    await withdraw_consent(db=db, actor=world.coordinator, consent_id=withdrawn.consent_id, idempotency_key=key())

    overdue = await _sent(db, world)
    assert overdue.id is not None
    ids["overdue"] = overdue.id
    await db.commit()
    await sweep_overdue_tasks(db=db, now=utc_now() + timedelta(days=30))
    await db.commit()
    return ids


async def _conference_booked_moved_and_cancelled(db: AsyncSession, rjw: RjWorld) -> int:
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    conference = await rj.schedule_conference(
        db=db,
        actor=rjw.coordinator_client,
        case_id=built.id,
        booking=rj.ConferenceBooking(
            starts_at=slot(7, 10),
            duration_minutes=60,
            venue=VENUE,
            video_call=False,
            party_ids=frozenset({built.harmed_id, built.responsible_id}),
        ),
        idempotency_key=key(),
    )
    await db.commit()
    assert conference.id is not None
    await rj.reschedule_conference(
        db=db,
        actor=rjw.coordinator_client,
        conference_id=conference.id,
        starts_at=slot(8, 11),
        duration_minutes=90,
        reason="The venue is closed that day",
        idempotency_key=key(),
    )
    await db.commit()
    await rj.cancel_conference(
        db=db, actor=rjw.coordinator_client, conference_id=conference.id, reason=CANCEL_REASON, idempotency_key=key()
    )
    await db.commit()
    return conference.id


async def _outbox(db: AsyncSession) -> list[OutboxEvent]:
    return list((await db.exec(select(OutboxEvent).order_by(col(OutboxEvent.id)))).all())


async def test_every_event_goes_to_the_organisation_that_must_hear_of_it(
    db: AsyncSession, world: World, rjw: RjWorld
) -> None:
    # Given every path a task can take, and a conference booked, moved and cancelled
    ids = await _every_task_path(db, world)
    conference_id = await _conference_booked_moved_and_cancelled(db, rjw)
    hub, cpn, rj_hub = world.org_id("hub"), world.org_id("cpn"), world.org_id("rj-hub")

    # When the outbox is read
    events = await _outbox(db)
    by_task: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for event in events:
        for task_id in [event.subject_ids.get("task"), *event.subject_ids.get("task_ids", [])]:
            if task_id is not None:
                by_task[task_id].append((event.type, event.organisation_id))

    # Then each change told the other side, the sweep told both, and the conference's facilitators heard of it
    sent = ("task.requested", cpn)
    assert by_task[ids["completed"]] == [sent, ("task.accepted", hub), ("task.completed", hub)]
    assert by_task[ids["rejected"]] == [sent, ("task.rejected", hub)]
    assert by_task[ids["failed"]] == [sent, ("task.accepted", hub), ("task.failed", hub)]
    assert by_task[ids["cancelled"]] == [sent, ("task.cancelled", cpn)]
    assert by_task[ids["entered-in-error"]] == [sent, ("task.entered-in-error", cpn)]
    assert by_task[ids["withdrawn"]] == [sent, ("consent.withdrawn", cpn)]
    assert by_task[ids["overdue"]] == [
        sent,
        ("task.accept-overdue", hub),
        ("task.accept-overdue", cpn),
        ("task.first-contact-overdue", hub),
        ("task.first-contact-overdue", cpn),
    ]
    conference_events = [
        (e.type, e.organisation_id, e.subject_ids)
        for e in events
        if e.subject_ids.get("rj_conference") == conference_id
    ]
    assert [(kind, organisation) for kind, organisation, _ in conference_events] == [
        ("rj.conference.booked", rj_hub),
        ("rj.conference.moved", rj_hub),
        ("rj.conference.cancelled", rj_hub),
    ]
    assert [subject["sequence"] for _, _, subject in conference_events] == [0, 1, 2]
    # And every kind of event the gateway knows was recorded at least once
    assert {e.type for e in events} == {member.value for member in EventType}


async def test_a_replayed_change_records_no_second_event(db: AsyncSession, world: World, rjw: RjWorld) -> None:
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    booking = rj.ConferenceBooking(
        starts_at=slot(9, 10),
        duration_minutes=60,
        venue=None,
        video_call=True,
        party_ids=frozenset({built.harmed_id, built.responsible_id}),
    )
    retry_key = key()
    for _ in range(2):
        await rj.schedule_conference(
            db=db, actor=rjw.coordinator_client, case_id=built.id, booking=booking, idempotency_key=retry_key
        )
        await db.commit()

    booked = [e for e in await _outbox(db) if e.type == "rj.conference.booked"]
    assert len(booked) == 1


async def test_no_payload_or_e_mail_carries_personal_data(db: AsyncSession, world: World, rjw: RjWorld) -> None:
    # Given a victim and RJ parties with recognisable details, taken along every path
    await make_referral(db, world, providers=("cpn",), victim=adult_victim(), case=case_input())
    await _every_task_path(db, world)
    await _conference_booked_moved_and_cancelled(db, rjw)
    birth = adult_victim().date_of_birth
    assert birth is not None
    markers = [*PERSONAL, birth.isoformat(), birth.strftime("%d %B %Y")]

    # When every event is rendered as a webhook and as an e-mail
    events = await _outbox(db)
    rendered = []
    for event in events:
        mail = render_email(event, "https://gateway.example.net")
        rendered += [json.dumps(event.subject_ids), render(event).body(), mail.subject, mail.text]

    # Then none of it holds any of the personal values
    assert len(events) >= 20
    leaks = sorted({marker for marker in markers for text in rendered if marker.lower() in text.lower()})
    assert leaks == []
