"""The Hub's own views: one self-referral read for triage, and the finished work waiting to be re-routed."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from gateway.audit.models import AuditEntry
from gateway.auth.principal import Role
from gateway.db import AsyncSession
from gateway.errors import Forbidden, NotFound
from gateway.referrals.models import CancelReason, ReferralTask, RejectReason, SelfReferral
from gateway.referrals.service import (
    SelfReferralSubmission,
    accept_task,
    cancel_task,
    create_follow_up_task,
    get_intake_item,
    list_tasks_to_reroute,
    reject_task,
    submit_self_referral,
)
from tests.support.domain import World, consent_for, key, make_sent_task


async def test_the_hub_reads_one_of_its_self_referrals_and_the_read_is_logged(db: AsyncSession, world: World) -> None:
    reference = await submit_self_referral(
        db=db,
        submission=SelfReferralSubmission(
            given_name="Tamsin", family_name="Orrery", consent_to_contact=True, phone="1"
        ),
        idempotency_key=key(),
    )
    await db.commit()
    item_id = (
        await db.exec(select(SelfReferral.id).where(col(SelfReferral.confirmation_reference) == reference))
    ).one()
    assert item_id is not None

    item = await get_intake_item(db=db, actor=world.coordinator, self_referral_id=item_id)

    assert (item.confirmation_reference, item.given_name) == (reference, "Tamsin")
    reads = (await db.exec(select(AuditEntry).where(col(AuditEntry.action) == "self-referral.read"))).all()
    assert [(r.category, r.subject_ids) for r in reads] == [("consultation", {"self_referral": item_id})]
    other_hub = world.person("hub-2", Role.HUB_COORDINATOR, user_id=5)
    with pytest.raises(NotFound):
        await get_intake_item(db=db, actor=other_hub, self_referral_id=item_id)
    with pytest.raises(NotFound):
        await get_intake_item(db=db, actor=world.coordinator, self_referral_id=item_id + 1000)
    with pytest.raises(Forbidden):
        await get_intake_item(db=db, actor=world.caseworker("cpn"), self_referral_id=item_id)


async def test_rejected_and_failed_work_waits_for_re_routing_until_a_task_replaces_it(
    db: AsyncSession, world: World
) -> None:
    consent = [consent_for("cpn", "rj-hub")]
    rejected = await make_sent_task(db, world, "cpn", consents=consent)
    cancelled = await make_sent_task(db, world, "cpn")
    open_task = await make_sent_task(db, world, "cpn")
    assert rejected.id and cancelled.id and open_task.id
    caseworker = world.caseworker("cpn")
    await reject_task(
        db=db,
        actor=caseworker,
        task_id=rejected.id,
        expected_version=rejected.version,
        idempotency_key=key(),
        reason=RejectReason.NO_CAPACITY,
    )
    await cancel_task(
        db=db,
        actor=world.coordinator,
        task_id=cancelled.id,
        expected_version=cancelled.version,
        idempotency_key=key(),
        reason=CancelReason.VICTIM_REQUEST,
    )
    await accept_task(
        db=db, actor=caseworker, task_id=open_task.id, expected_version=open_task.version, idempotency_key=key()
    )
    await db.commit()

    waiting = await list_tasks_to_reroute(db=db, actor=world.coordinator)

    assert [t.id for t in waiting] == [rejected.id]  # not the Hub's own cancellation, not open work
    assert await list_tasks_to_reroute(db=db, actor=world.person("hub-2", Role.HUB_COORDINATOR)) == []
    with pytest.raises(Forbidden):
        await list_tasks_to_reroute(db=db, actor=caseworker)
    follow_up = await create_follow_up_task(
        db=db, actor=world.coordinator, task_id=rejected.id, provider_slug="rj-hub", idempotency_key=key()
    )
    assert isinstance(follow_up, ReferralTask)
    assert await list_tasks_to_reroute(db=db, actor=world.coordinator) == []
