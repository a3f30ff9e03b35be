"""Consent: required to send, the safeguarding override, and withdrawal taking effect at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from gateway.audit.models import AuditEntry
from gateway.clock import utc_now
from gateway.consent.models import Consent
from gateway.consent.service import record_consent
from gateway.db import AsyncSession
from gateway.errors import (
    ConsentRequired,
    Forbidden,
    InvalidTransition,
    OverrideJustificationRequired,
    ValidationFailed,
)
from gateway.events.models import OutboxEvent
from gateway.referrals.models import ReferralTask
from gateway.referrals.service import (
    accept_task,
    get_victim_view_for_task,
    load_consent_summaries_for_tasks,
    send_task,
    withdraw_consent,
)
from providers.profile import VictimField
from tests.support.domain import (
    VICTIM_FAMILY_NAME,
    VICTIM_GIVEN_NAME,
    World,
    consent_for,
    count,
    key,
    make_referral,
)

JUSTIFICATION = "Victim disclosed a credible threat to life from a family member; police and MARAC agreed urgent."


def _id(task: ReferralTask) -> int:
    assert task.id is not None
    return task.id


async def test_a_task_without_consent_for_its_provider_is_not_sent(db: AsyncSession, world: World) -> None:
    # Given a referral to the CPN whose only consent covers the RJ hub
    _, [task] = await make_referral(db, world, providers=("cpn",), consents=[consent_for("rj-hub")])
    await db.commit()

    # When the Hub sends it
    with pytest.raises(ConsentRequired) as refused:
        await send_task(db=db, actor=world.coordinator, task_id=_id(task), expected_version=1, idempotency_key=key())
    await db.rollback()

    # Then it is refused and the task is still a draft nobody was told about
    assert (refused.value.code, refused.value.message) == (
        "consent-required",
        "There is no consent covering this provider.",
    )
    await db.refresh(task)
    assert (task.status, task.version) == ("draft", 1)
    assert await count(db, OutboxEvent) == 0


async def test_expired_consent_does_not_cover_a_send(db: AsyncSession, world: World) -> None:
    # Given consent that expired an hour ago
    given = utc_now() - timedelta(days=2)
    expired = consent_for("cpn", given_at=given, expires_at=utc_now() - timedelta(hours=1))
    _, [task] = await make_referral(db, world, providers=("cpn",), consents=[expired])

    # When the Hub sends, then it is refused as expired
    with pytest.raises(ConsentRequired) as refused:
        await send_task(db=db, actor=world.coordinator, task_id=_id(task), expected_version=1, idempotency_key=key())
    assert refused.value.message == "Consent covering this provider has expired."


async def test_safeguarding_override_needs_the_permission_and_a_real_justification(
    db: AsyncSession, world: World
) -> None:
    # Given a referral with no consent at all
    _, [task] = await make_referral(db, world, providers=("cpn",), consents=[])

    # When a co-ordinator (no consent:override) tries to override, it is forbidden
    with pytest.raises(Forbidden):
        await send_task(
            db=db,
            actor=world.coordinator,
            task_id=_id(task),
            expected_version=1,
            idempotency_key=key(),
            safeguarding_justification=JUSTIFICATION,
        )
    # When a supervisor gives a token justification, it is refused with its own code
    with pytest.raises(OverrideJustificationRequired) as too_short:
        await send_task(
            db=db,
            actor=world.supervisor,
            task_id=_id(task),
            expected_version=1,
            idempotency_key=key(),
            safeguarding_justification="urgent    risk",
        )
    assert too_short.value.code == "override-justification-required"

    # When a supervisor writes a real justification, the task is sent and flagged
    sent = await send_task(
        db=db,
        actor=world.supervisor,
        task_id=_id(task),
        expected_version=1,
        idempotency_key=key(),
        safeguarding_justification=JUSTIFICATION,
    )
    assert (sent.status, sent.safeguarding_override, sent.override_by, sent.consent_id) == (
        "requested",
        True,
        "user:2",
        None,
    )
    assert sent.override_justification == JUSTIFICATION

    # Then the disclosure in the audit trail carries the override flag
    disclosure = (
        await db.exec(
            select(AuditEntry).where(AuditEntry.action == "task.send", AuditEntry.victim_id == sent.victim_id)
        )
    ).one()
    assert (disclosure.category, disclosure.safeguarding_override, disclosure.purpose) == (
        "disclosure",
        True,
        "safeguarding",
    )
    assert disclosure.recipient_organisation_id == world.org_id("cpn")

    # And the provider sees the victim, marked as shared under the override, with the consent summary saying so
    cpn = world.caseworker("cpn")
    view = await get_victim_view_for_task(db=db, actor=cpn, task_id=_id(sent))
    assert (view.redacted, view.shared_under_safeguarding_override, view.given_name) == (False, True, VICTIM_GIVEN_NAME)
    summaries = await load_consent_summaries_for_tasks(db=db, actor=cpn, task_ids=[_id(sent)])
    assert summaries[_id(sent)].state == "safeguarding-override"


async def test_an_override_is_refused_when_consent_already_covers_the_provider(db: AsyncSession, world: World) -> None:
    _, [task] = await make_referral(db, world, providers=("cpn",))
    with pytest.raises(ValidationFailed):
        await send_task(
            db=db,
            actor=world.supervisor,
            task_id=_id(task),
            expected_version=1,
            idempotency_key=key(),
            safeguarding_justification=JUSTIFICATION,
        )


async def test_withdrawal_cancels_open_tasks_redacts_the_next_read_tells_the_provider_and_is_audited(
    db: AsyncSession, world: World
) -> None:
    # Given one consent covering the CPN and the RJ hub, both tasks sent, the CPN's accepted
    _, [cpn_task, rj_task] = await make_referral(db, world, providers=("cpn", "rj-hub"))
    cpn, rj = world.caseworker("cpn"), world.caseworker("rj-hub", user_id=11)
    for task in (cpn_task, rj_task):
        await send_task(db=db, actor=world.coordinator, task_id=_id(task), expected_version=1, idempotency_key=key())
    await accept_task(db=db, actor=cpn, task_id=_id(cpn_task), expected_version=2, idempotency_key=key())
    before = await get_victim_view_for_task(db=db, actor=cpn, task_id=_id(cpn_task))
    assert (before.redacted, before.given_name, before.phone) == (False, VICTIM_GIVEN_NAME, "07700900001")
    await db.commit()
    consent = (await db.exec(select(Consent).where(Consent.victim_id == cpn_task.victim_id))).one()

    # When the Hub withdraws the consent
    withdrawn = await withdraw_consent(
        db=db, actor=world.coordinator, consent_id=consent.id or 0, idempotency_key=key()
    )
    await db.commit()

    # Then both open tasks are cancelled with consent-withdrawn
    assert withdrawn.withdrawn_at is not None and withdrawn.withdrawn_by == "user:1"
    for task in (cpn_task, rj_task):
        await db.refresh(task)
        assert (task.status, task.status_reason) == ("cancelled", "consent-withdrawn")

    # And the very next read by each provider returns every personal field redacted, with the reason
    for actor, task in ((cpn, cpn_task), (rj, rj_task)):
        view = await get_victim_view_for_task(db=db, actor=actor, task_id=_id(task))
        assert (view.redacted, view.redaction_reason, view.fields) == (True, "consent-withdrawn", frozenset())
        assert all(
            getattr(view, name) is None
            for name in ("given_name", "family_name", "date_of_birth", "age", "address", "phone", "email")
        )
        assert view.safe_contact is None and view.needs is None and view.crime_category is None
        assert VICTIM_FAMILY_NAME not in repr(view)

    # And each provider has one event, with ids only
    events = (
        await db.exec(select(OutboxEvent).where(OutboxEvent.type == "consent.withdrawn").order_by(col(OutboxEvent.id)))
    ).all()
    assert [(e.organisation_id, e.subject_ids) for e in events] == [
        (world.org_id("cpn"), {"consent": consent.id, "task_ids": [cpn_task.id], "cancelled_task_ids": [cpn_task.id]}),
        (world.org_id("rj-hub"), {"consent": consent.id, "task_ids": [rj_task.id], "cancelled_task_ids": [rj_task.id]}),
    ]

    # And the withdrawal is audited, naming the cancelled tasks
    audit = (await db.exec(select(AuditEntry).where(AuditEntry.action == "consent.withdraw"))).one()
    assert (audit.category, audit.victim_id, audit.subject_ids["cancelled_task_ids"]) == (
        "alteration",
        cpn_task.victim_id,
        sorted([_id(cpn_task), _id(rj_task)]),
    )

    # And the same consent cannot be withdrawn twice, nor a task sent under it
    with pytest.raises(InvalidTransition):
        await withdraw_consent(db=db, actor=world.coordinator, consent_id=consent.id or 0, idempotency_key=key())


async def test_a_fresh_consent_after_withdrawal_restores_sharing_but_an_older_one_does_not(
    db: AsyncSession, world: World
) -> None:
    # Given two consents covering the CPN, one of them withdrawn
    _, [task] = await make_referral(db, world, providers=("cpn",), consents=[consent_for("cpn"), consent_for("cpn")])
    consents = (
        await db.exec(select(Consent).where(Consent.victim_id == task.victim_id).order_by(col(Consent.id)))
    ).all()
    await withdraw_consent(db=db, actor=world.coordinator, consent_id=consents[1].id or 0, idempotency_key=key())

    # When the Hub sends under the older, unwithdrawn consent, it is refused: the withdrawal outranks it
    with pytest.raises(ConsentRequired) as refused:
        await send_task(db=db, actor=world.coordinator, task_id=_id(task), expected_version=1, idempotency_key=key())
    assert refused.value.message == "Consent covering this provider was withdrawn."

    # When the victim consents again and the Hub records it, the task can be sent
    fresh = await record_consent(
        db=db, actor=world.coordinator, victim_id=task.victim_id, consent=consent_for("cpn"), idempotency_key=key()
    )
    sent = await send_task(db=db, actor=world.coordinator, task_id=_id(task), expected_version=1, idempotency_key=key())
    assert (sent.status, sent.consent_id) == ("requested", fresh.id)


async def test_the_provider_view_shows_only_the_categories_the_consent_covers(db: AsyncSession, world: World) -> None:
    # Given consent to share only name and safe contact with the CPN
    narrow = consent_for("cpn", categories=frozenset({VictimField.NAME, VictimField.SAFE_CONTACT}))
    _, [task] = await make_referral(db, world, providers=("cpn",), consents=[narrow])
    await send_task(db=db, actor=world.coordinator, task_id=_id(task), expected_version=1, idempotency_key=key())

    # When the CPN reads the victim
    view = await get_victim_view_for_task(db=db, actor=world.caseworker("cpn"), task_id=_id(task))

    # Then it sees those two categories and nothing else its profile would otherwise allow
    assert view.fields == frozenset({VictimField.NAME, VictimField.SAFE_CONTACT})
    assert view.given_name == VICTIM_GIVEN_NAME and view.safe_contact is not None
    assert (view.phone, view.address, view.date_of_birth, view.needs, view.assessment_notes) == (
        None,
        None,
        None,
        None,
        None,
    )
