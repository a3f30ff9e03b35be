"""Idempotency keys replay the first result; optimistic concurrency lets exactly one racing writer win."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import SQLModel, col, select

from gateway.audit.models import AuditEntry
from gateway.audit.service import verify_chain
from gateway.auth.principal import Principal, Role, Scope
from gateway.consent.models import Consent
from gateway.db import AsyncSession, create_engine, create_session_factory
from gateway.errors import Conflict, DomainError, IdempotencyKeyReused
from gateway.events.models import OutboxEvent
from gateway.idempotency.models import IdempotencyRecord
from gateway.referrals.models import Case, Referral, ReferralTask
from gateway.referrals.service import accept_task, create_referral
from gateway.victims.models import Victim
from tests.support.domain import World, adult_victim, case_input, consent_for, count, make_sent_task

TABLES: tuple[type[SQLModel], ...] = (
    Victim,
    Case,
    Consent,
    Referral,
    ReferralTask,
    AuditEntry,
    OutboxEvent,
    IdempotencyRecord,
)


async def _counts(db: AsyncSession) -> dict[str, int]:
    return {model.__name__: await count(db, model) for model in TABLES}


async def test_replaying_create_referral_returns_the_first_referral_and_creates_nothing(
    db: AsyncSession, world: World
) -> None:
    # Given a referral created with a key
    arguments = {
        "victim": adult_victim(),
        "case": case_input(),
        "consents": [consent_for("cpn")],
        "provider_slugs": ["cpn"],
        "idempotency_key": "create-once",
    }
    first = await create_referral(db=db, actor=world.coordinator, **arguments)  # type: ignore[arg-type]
    await db.commit()
    before = await _counts(db)

    # When the same request is retried with the same key
    again = await create_referral(db=db, actor=world.coordinator, **arguments)  # type: ignore[arg-type]
    await db.commit()

    # Then it is the same referral and no row of any kind was added
    assert (again.id, again.reference) == (first.id, first.reference)
    assert await _counts(db) == before
    assert before["Victim"] == 1 and before["ReferralTask"] == 1


async def test_replaying_a_transition_returns_the_task_without_a_second_change(db: AsyncSession, world: World) -> None:
    # Given a task the CPN accepted with a key
    cpn = world.caseworker("cpn")
    task = await make_sent_task(db, world, "cpn")
    assert task.id is not None
    accepted = await accept_task(db=db, actor=cpn, task_id=task.id, expected_version=2, idempotency_key="accept-1")
    await db.commit()
    before = await _counts(db)

    # When the provider's client retries the accept (it never saw the answer)
    replayed = await accept_task(db=db, actor=cpn, task_id=task.id, expected_version=2, idempotency_key="accept-1")

    # Then it gets the accepted task back, not a conflict, and nothing new happened
    assert (replayed.id, replayed.status, replayed.version) == (accepted.id, "accepted", 3)
    assert await _counts(db) == before


async def test_a_key_reused_for_a_different_request_is_refused(db: AsyncSession, world: World) -> None:
    task = await make_sent_task(db, world, "cpn")
    assert task.id is not None
    cpn = world.caseworker("cpn")
    await accept_task(db=db, actor=cpn, task_id=task.id, expected_version=2, idempotency_key="same-key")

    with pytest.raises(IdempotencyKeyReused) as reused:
        await accept_task(db=db, actor=cpn, task_id=task.id, expected_version=3, idempotency_key="same-key")
    assert reused.value.code == "idempotency-key-reused"


async def test_keys_belong_to_one_organisation(db: AsyncSession, world: World) -> None:
    # Given the Hub used a key; when another referrer uses the same key it is a fresh request
    other_hub = Principal(
        organisation_id=world.org_id("hub-2"),
        organisation_slug="hub-2",
        scopes=frozenset({Scope.REFERRALS_WRITE, Scope.REFERRALS_READ}),
        roles=frozenset({Role.HUB_COORDINATOR}),
        user_id=77,
    )
    arguments = {
        "victim": adult_victim(),
        "case": case_input(),
        "consents": [],
        "provider_slugs": [],
        "idempotency_key": "shared-key",
    }
    mine = await create_referral(db=db, actor=world.coordinator, **arguments)  # type: ignore[arg-type]
    theirs = await create_referral(db=db, actor=other_hub, **arguments)  # type: ignore[arg-type]
    assert mine.id != theirs.id and theirs.hub_organisation_id == world.org_id("hub-2")


@pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)
async def test_two_caseworkers_racing_to_accept_exactly_one_wins(
    db: AsyncSession, world: World, database_url: str
) -> None:
    # Given a requested task, committed, and two caseworkers who both loaded version 2
    task = await make_sent_task(db, world, "cpn")
    assert task.id is not None
    await db.commit()
    engines = [create_engine(database_url), create_engine(database_url)]
    caseworkers = [world.caseworker("cpn", user_id=21), world.caseworker("cpn", user_id=22)]
    both_loaded = asyncio.Barrier(2)

    async def accept(index: int) -> str:
        async with create_session_factory(engines[index])() as session:
            seen = await session.get(ReferralTask, task.id)
            assert seen is not None and seen.version == 2
            await both_loaded.wait()
            try:
                await accept_task(
                    db=session,
                    actor=caseworkers[index],
                    task_id=seen.id or 0,
                    expected_version=seen.version,
                    idempotency_key=f"race-{index}",
                )
            except DomainError as refused:
                await session.rollback()
                return refused.code
            await session.commit()
            return "accepted"

    # When both accept at once over separate connections
    try:
        results = await asyncio.gather(accept(0), accept(1))
    finally:
        for engine in engines:
            await engine.dispose()

    # Then exactly one wins and the other is told of the conflict
    assert sorted(results) == ["accepted", Conflict.default_code.value]
    await db.refresh(task)
    assert (task.status, task.version) == ("accepted", 3)
    accept_rows = [e for e in await _audit_rows(db) if e.action == "task.accept"]
    assert len(accept_rows) == 1
    assert await verify_chain(db) is None


async def _audit_rows(db: AsyncSession) -> list[AuditEntry]:
    return list((await db.exec(select(AuditEntry).order_by(col(AuditEntry.sequence)))).all())
