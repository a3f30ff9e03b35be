"""Authorisation in SQL: not-found and not-yours are one answer; scopes are checked before anything else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlmodel import select

from gateway.auth.principal import Principal, Role, Scope
from gateway.consent.models import Consent
from gateway.db import AsyncSession
from gateway.errors import DomainError, Forbidden, NotFound
from gateway.referrals.models import ReferralTask
from gateway.referrals.service import (
    accept_task,
    get_referral,
    get_task,
    get_victim_view_for_task,
    list_inbox,
    load_contact_attempts_for_tasks,
    load_victim_views_for_tasks,
    withdraw_consent,
)
from gateway.victims.service import get_victim, read_audit_trail_for_victim
from tests.support.domain import World, key, make_referral, make_sent_task

MISSING = 987_654


def _id(task: ReferralTask) -> int:
    assert task.id is not None
    return task.id


def _same_answer(missing: DomainError, not_yours: DomainError) -> None:
    assert (missing.code, missing.message, type(missing)) == (not_yours.code, not_yours.message, type(not_yours))
    assert missing.code == "not-found"


async def test_another_providers_task_looks_exactly_like_a_missing_one(db: AsyncSession, world: World) -> None:
    # Given a task sent to the CPN
    task = await make_sent_task(db, world, "cpn")
    family_action = world.caseworker("family-action")

    # When Family Action reads or accepts it, and reads or accepts a task that does not exist
    for operation in (
        lambda task_id: get_task(db=db, actor=family_action, task_id=task_id),
        lambda task_id: accept_task(
            db=db, actor=family_action, task_id=task_id, expected_version=2, idempotency_key=key()
        ),
        lambda task_id: get_victim_view_for_task(db=db, actor=family_action, task_id=task_id),
    ):
        with pytest.raises(NotFound) as not_yours:
            await operation(_id(task))
        with pytest.raises(NotFound) as missing:
            await operation(MISSING)

        # Then both answers are identical
        _same_answer(missing.value, not_yours.value)

    # And the batch loaders simply leave out what is not theirs
    assert await load_victim_views_for_tasks(db=db, actor=family_action, task_ids=[_id(task)]) == {}
    assert await load_contact_attempts_for_tasks(db=db, actor=family_action, task_ids=[_id(task)]) == {_id(task): []}
    assert await list_inbox(db=db, actor=family_action) == []
    assert [t.id for t in await list_inbox(db=db, actor=world.caseworker("cpn"))] == [task.id]


async def test_another_hubs_referral_victim_and_consent_look_missing(db: AsyncSession, world: World) -> None:
    # Given a referral owned by the Hub
    referral, [task] = await make_referral(db, world)
    other_hub = Principal(
        organisation_id=world.org_id("hub-2"),
        organisation_slug="hub-2",
        scopes=frozenset({Scope.REFERRALS_READ, Scope.REFERRALS_WRITE, Scope.AUDIT_READ}),
        roles=frozenset({Role.HUB_SUPERVISOR}),
        user_id=99,
    )
    assert referral.id is not None

    consent = (await db.exec(select(Consent).where(Consent.victim_id == task.victim_id))).one()
    assert consent.id is not None
    attempts: list[tuple[Callable[[int], Awaitable[object]], int]] = [
        (lambda object_id: get_referral(db=db, actor=other_hub, referral_id=object_id), referral.id),
        (lambda object_id: get_victim(db=db, actor=other_hub, victim_id=object_id), task.victim_id),
        (lambda object_id: get_task(db=db, actor=other_hub, task_id=object_id), _id(task)),
        (
            lambda object_id: withdraw_consent(db=db, actor=other_hub, consent_id=object_id, idempotency_key=key()),
            consent.id,
        ),
        (lambda object_id: read_audit_trail_for_victim(db=db, actor=other_hub, victim_id=object_id), task.victim_id),
    ]

    # When another referrer reaches for each of them, and for something that does not exist
    for operation, own_id in attempts:
        with pytest.raises(NotFound) as not_yours:
            await operation(own_id)
        with pytest.raises(NotFound) as missing:
            await operation(MISSING)

        # Then it gets the same answer both times
        _same_answer(missing.value, not_yours.value)


async def test_scopes_are_checked_first(db: AsyncSession, world: World) -> None:
    # Given a sent task
    task = await make_sent_task(db, world, "cpn")
    read_only = Principal(
        organisation_id=world.org_id("cpn"),
        organisation_slug="cpn",
        scopes=frozenset({Scope.TASKS_READ}),
        client_id="cpn-reporting",
    )
    commissioner = world.person("opcc", Role.COMMISSIONER_ANALYST, user_id=50)

    # When a read-only client accepts, or the commissioner reads a task, they are forbidden
    with pytest.raises(Forbidden) as read_only_refused:
        await accept_task(db=db, actor=read_only, task_id=_id(task), expected_version=2, idempotency_key=key())
    with pytest.raises(Forbidden):
        await get_task(db=db, actor=commissioner, task_id=_id(task))
    with pytest.raises(Forbidden):
        await list_inbox(db=db, actor=commissioner)
    # A co-ordinator holds no audit:read
    with pytest.raises(Forbidden):
        await read_audit_trail_for_victim(db=db, actor=world.coordinator, victim_id=task.victim_id)

    assert read_only_refused.value.code == "forbidden"
    await db.refresh(task)
    assert task.status == "requested"


async def test_a_provider_given_referrals_write_still_cannot_start_a_referral(db: AsyncSession, world: World) -> None:
    misconfigured = Principal(
        organisation_id=world.org_id("cpn"),
        organisation_slug="cpn",
        scopes=frozenset({Scope.REFERRALS_WRITE, Scope.REFERRALS_READ}),
        client_id="cpn-misconfigured",
    )
    with pytest.raises(Forbidden):
        await make_referral(db, world, actor=misconfigured)
