"""Time limits per organisation, refused operations leaving nothing behind, and the self-referral intake."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, select

from gateway.audit.models import AuditEntry
from gateway.clock import utc_now
from gateway.consent.models import Consent
from gateway.db import AsyncSession
from gateway.errors import ConsentRequired, Forbidden, InvalidTransition, NotEligible, ValidationFailed
from gateway.events.models import OutboxEvent
from gateway.idempotency.models import IdempotencyRecord
from gateway.referrals.models import (
    Case,
    ContactAttempt,
    ContactMethod,
    ContactResult,
    Referral,
    ReferralTask,
    SelfReferral,
)
from gateway.referrals.service import (
    IntakeCloseReason,
    OverdueReason,
    SelfReferralSubmission,
    TriageReferral,
    accept_task,
    list_inbox,
    list_intake_queue,
    list_overdue_tasks,
    load_consent_summaries_for_tasks,
    load_contact_attempts_for_tasks,
    load_victim_views_for_tasks,
    record_contact_attempt,
    record_first_contact,
    send_task,
    submit_self_referral,
    triage_self_referral,
)
from gateway.victims.models import Victim
from gateway.victims.service import SafeContactInput
from providers.profile import CrimeCategory
from tests.support.domain import (
    World,
    adult_victim,
    case_input,
    consent_for,
    count,
    key,
    make_referral,
    make_sent_task,
)

EVERY_TABLE: tuple[type[SQLModel], ...] = (
    Victim,
    Case,
    Consent,
    Referral,
    ReferralTask,
    ContactAttempt,
    SelfReferral,
    AuditEntry,
    OutboxEvent,
    IdempotencyRecord,
)


async def _counts(db: AsyncSession) -> dict[str, int]:
    return {model.__name__: await count(db, model) for model in EVERY_TABLE}


# ---------------------------------------------------------------------------------------------------------------------
# Overdue


async def test_overdue_tasks_are_scoped_to_each_organisation(db: AsyncSession, world: World) -> None:
    # Given tasks sent to the CPN and the RJ hub (accept within 24 h; first contact 48 h and 72 h)
    cpn, rj = world.caseworker("cpn"), world.caseworker("rj-hub", user_id=11)
    _, [cpn_task, rj_task] = await make_referral(db, world, providers=("cpn", "rj-hub"))
    for task in (cpn_task, rj_task):
        assert task.id is not None
        await send_task(db=db, actor=world.coordinator, task_id=task.id, expected_version=1, idempotency_key=key())
    sent_at = utc_now()

    # Then nothing is overdue yet
    assert await list_overdue_tasks(db=db, actor=world.coordinator, now=sent_at + timedelta(hours=1)) == []

    # When 25 hours pass, both are overdue to accept: the Hub sees both, each provider only its own
    later = sent_at + timedelta(hours=25)
    hub_view = await list_overdue_tasks(db=db, actor=world.coordinator, now=later)
    assert [(o.task.id, o.reasons) for o in hub_view] == [
        (cpn_task.id, (OverdueReason.ACCEPT,)),
        (rj_task.id, (OverdueReason.ACCEPT,)),
    ]
    assert [o.task.id for o in await list_overdue_tasks(db=db, actor=cpn, now=later)] == [cpn_task.id]
    assert [o.task.id for o in await list_overdue_tasks(db=db, actor=rj, now=later)] == [rj_task.id]
    assert await list_overdue_tasks(db=db, actor=world.caseworker("family-action"), now=later) == []

    # When the CPN accepts, it is still overdue for first contact after 49 hours, the RJ hub (72 h) is not yet
    assert cpn_task.id is not None and rj_task.id is not None
    await accept_task(db=db, actor=cpn, task_id=cpn_task.id, expected_version=2, idempotency_key=key())
    await accept_task(db=db, actor=rj, task_id=rj_task.id, expected_version=2, idempotency_key=key())
    after_two_days = sent_at + timedelta(hours=49)
    overdue = await list_overdue_tasks(db=db, actor=world.coordinator, now=after_two_days)
    assert [(o.task.id, o.reasons) for o in overdue] == [(cpn_task.id, (OverdueReason.FIRST_CONTACT,))]
    inbox = await list_inbox(db=db, actor=cpn, overdue_only=True, now=after_two_days)
    assert [t.id for t in inbox] == [cpn_task.id]

    # When the CPN records first contact, nothing of its is overdue any more
    await record_first_contact(
        db=db, actor=cpn, task_id=cpn_task.id, expected_version=3, contacted_at=utc_now(), idempotency_key=key()
    )
    assert await list_overdue_tasks(db=db, actor=cpn, now=after_two_days) == []


# ---------------------------------------------------------------------------------------------------------------------
# Refused operations change nothing


async def test_a_refused_create_referral_leaves_no_rows_after_rollback(db: AsyncSession, world: World) -> None:
    # Given an empty database (apart from organisations)
    before = await _counts(db)

    # When a referral names an ineligible provider after the victim and case rows were already flushed
    with pytest.raises(NotEligible):
        await make_referral(
            db, world, providers=("cpn", "road-victims-trust"), case=case_input(crime=CrimeCategory.VIOLENCE)
        )
    await db.rollback()

    # Then nothing at all remains: no victim, case, consent, key, audit row or event
    assert await _counts(db) == before


async def test_a_refused_send_leaves_the_task_and_the_logs_as_they_were(db: AsyncSession, world: World) -> None:
    # Given a committed draft with no consent
    _, [task] = await make_referral(db, world, providers=("cpn",), consents=[])
    await db.commit()
    before = await _counts(db)

    # When the Hub sends it and is refused, then the request rolls back
    assert task.id is not None
    with pytest.raises(ConsentRequired):
        await send_task(db=db, actor=world.coordinator, task_id=task.id, expected_version=1, idempotency_key=key())
    await db.rollback()

    # Then the counts and the task are as before, and the key can be used again for a corrected request
    assert await _counts(db) == before
    await db.refresh(task)
    assert (task.status, task.version) == ("draft", 1)


# ---------------------------------------------------------------------------------------------------------------------
# Self-referral


def _submission(**changes: object) -> SelfReferralSubmission:
    submission = SelfReferralSubmission(
        given_name="Self",
        family_name="Referrer",
        consent_to_contact=True,
        phone="07700900009",
        safe_contact=SafeContactInput(safe_times="Evenings only", voicemail_safe=False),
        crime_category=CrimeCategory.HATE_CRIME,
        what_happened="Something happened.",
    )
    return replace(submission, **changes)  # type: ignore[arg-type]


async def test_a_self_referral_waits_for_triage_and_reveals_only_a_reference(db: AsyncSession, world: World) -> None:
    # When someone refers themselves (twice, the form retried with the same key)
    reference = await submit_self_referral(db=db, submission=_submission(), idempotency_key="form-1")
    again = await submit_self_referral(db=db, submission=_submission(), idempotency_key="form-1")

    # Then they get the same confirmation reference, and one item waits in the Hub's queue, nothing for providers
    assert reference == again and reference.startswith("SR-") and len(reference) == 13
    queue = await list_intake_queue(db=db, actor=world.coordinator)
    assert [(item.confirmation_reference, item.status, item.safe_times) for item in queue] == [
        (reference, "new", "Evenings only")
    ]
    assert (await count(db, ReferralTask), await count(db, Victim)) == (0, 0)
    public_row = (await db.exec(select(AuditEntry).where(AuditEntry.action == "self-referral.submit"))).one()
    assert (public_row.actor, public_row.actor_organisation_id) == ("public:self-referral", None)

    # When a provider looks for the queue it is forbidden
    with pytest.raises(Forbidden):
        await list_intake_queue(db=db, actor=world.caseworker("cpn"))

    # When a co-ordinator triages it into a case
    item = queue[0]
    assert item.id is not None
    triaged = await triage_self_referral(
        db=db,
        actor=world.coordinator,
        self_referral_id=item.id,
        referral=TriageReferral(case=case_input(crime=CrimeCategory.HATE_CRIME)),
        idempotency_key=key(),
    )

    # Then there is a victim, a self-referral case and a referral with no tasks, and the queue is empty
    assert triaged.status == "referral-created" and triaged.referral_id is not None
    referral = await db.get(Referral, triaged.referral_id)
    assert referral is not None
    case = await db.get(Case, referral.case_id)
    victim = await db.get(Victim, referral.victim_id)
    assert case is not None and victim is not None
    assert (case.arrival_route, victim.given_name, victim.safe_times) == ("self-referral", "Self", "Evenings only")
    assert await count(db, ReferralTask) == 0
    assert await list_intake_queue(db=db, actor=world.coordinator) == []

    # And it cannot be triaged twice
    with pytest.raises(InvalidTransition):
        await triage_self_referral(
            db=db,
            actor=world.coordinator,
            self_referral_id=item.id,
            close_reason=IntakeCloseReason.DUPLICATE,
            idempotency_key=key(),
        )


async def test_a_self_referral_needs_agreement_to_be_contacted(db: AsyncSession, world: World) -> None:
    with pytest.raises(ValidationFailed):
        await submit_self_referral(db=db, submission=_submission(consent_to_contact=False), idempotency_key=key())
    await db.rollback()
    assert await count(db, SelfReferral) == 0


async def test_triage_can_close_a_self_referral_with_a_reason(db: AsyncSession, world: World) -> None:
    await submit_self_referral(db=db, submission=_submission(), idempotency_key=key())
    [item] = await list_intake_queue(db=db, actor=world.coordinator)
    assert item.id is not None
    closed = await triage_self_referral(
        db=db,
        actor=world.coordinator,
        self_referral_id=item.id,
        close_reason=IntakeCloseReason.SUPPORT_DECLINED,
        idempotency_key=key(),
    )
    assert (closed.status, closed.close_reason, closed.referral_id) == ("closed", "support-declined", None)
    assert await count(db, Referral) == 0


# ---------------------------------------------------------------------------------------------------------------------
# Batch loaders: a page costs a fixed number of queries


async def _statements_for_inbox_page(db: AsyncSession, world: World, page_size: int) -> int:
    cpn = world.caseworker("cpn")
    engine = db.bind
    assert isinstance(engine, AsyncEngine)
    statements: list[str] = []

    def count_statement(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count_statement)
    try:
        page = await list_inbox(db=db, actor=cpn, limit=page_size)
        task_ids = [t.id for t in page if t.id is not None]
        views = await load_victim_views_for_tasks(db=db, actor=cpn, task_ids=task_ids)
        consents = await load_consent_summaries_for_tasks(db=db, actor=cpn, task_ids=task_ids)
        attempts = await load_contact_attempts_for_tasks(db=db, actor=cpn, task_ids=task_ids)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count_statement)
    assert len(page) == len(views) == len(consents) == len(attempts) == page_size
    assert all(len(a) == 1 for a in attempts.values())
    return len(statements)


async def test_an_inbox_page_with_nested_victim_consent_and_attempts_costs_the_same_for_5_or_50(
    db: AsyncSession, world: World
) -> None:
    # Given 50 accepted CPN tasks, each with a contact attempt
    cpn = world.caseworker("cpn")
    for _ in range(50):
        task = await make_sent_task(db, world, "cpn", victim=adult_victim(), consents=[consent_for("cpn")])
        assert task.id is not None
        await accept_task(db=db, actor=cpn, task_id=task.id, expected_version=2, idempotency_key=key())
        await record_contact_attempt(
            db=db,
            actor=cpn,
            task_id=task.id,
            attempted_at=utc_now(),
            method=ContactMethod.PHONE,
            result=ContactResult.NO_ANSWER,
            idempotency_key=key(),
        )
    await db.commit()

    # When a page of 5 and a page of 50 are loaded with their relations
    small = await _statements_for_inbox_page(db, world, 5)
    await db.commit()
    large = await _statements_for_inbox_page(db, world, 50)

    # Then the number of statements does not grow with the page
    assert small == large
