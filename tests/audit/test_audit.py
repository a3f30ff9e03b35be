"""The s.62 log: a row for every processing, no personal data in it, a hash chain that shows tampering."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from gateway.audit.models import AuditEntry
from gateway.audit.sealer import seal_until_done
from gateway.audit.service import TRAIL_ORDER, verify_chain, verify_report
from gateway.consent.models import Consent
from gateway.consent.service import load_consents_for_victims
from gateway.db import AsyncSession
from gateway.referrals.models import ReferralTask
from gateway.referrals.service import (
    accept_task,
    get_victim_view_for_task,
    load_cases_for_referrals,
    send_task,
    withdraw_consent,
)
from gateway.victims.service import get_victim, read_audit_trail_for_victim
from tests.audit.sealing import sealing_engine
from tests.support.domain import VICTIM_FAMILY_NAME, VICTIM_GIVEN_NAME, World, key, make_referral

REPOSITORY = Path(__file__).resolve().parents[2]


async def _scenario(db: AsyncSession, world: World) -> ReferralTask:
    """Create, read, send, view, accept and withdraw: one of each kind of processing the Hub and a provider do."""
    referral, [task] = await make_referral(db, world, providers=("cpn",))
    assert task.id is not None and referral.id is not None
    await get_victim(db=db, actor=world.coordinator, victim_id=task.victim_id)
    await load_cases_for_referrals(db=db, actor=world.coordinator, referral_ids=[referral.id])
    await load_consents_for_victims(db=db, actor=world.coordinator, victim_ids=[task.victim_id])
    await send_task(db=db, actor=world.coordinator, task_id=task.id, expected_version=1, idempotency_key=key())
    cpn = world.caseworker("cpn")
    await get_victim_view_for_task(db=db, actor=cpn, task_id=task.id)
    await accept_task(db=db, actor=cpn, task_id=task.id, expected_version=2, idempotency_key=key())
    consent = (await db.exec(select(Consent).where(Consent.victim_id == task.victim_id))).one()
    await withdraw_consent(db=db, actor=world.coordinator, consent_id=consent.id or 0, idempotency_key=key())
    await get_victim_view_for_task(db=db, actor=cpn, task_id=task.id)  # redacted: nothing disclosed, nothing logged
    await db.commit()
    await seal_until_done(sealing_engine(db))  # PostgreSQL seals off the request path; SQLite's rows went in sealed
    return task


async def _tamper(db: AsyncSession, database_kind: str, row_id: int) -> None:
    # The database itself refuses changes to the log; an attacker with owner rights would first disable that.
    if database_kind == "postgresql":
        await db.exec(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))  # type: ignore[call-overload]
    else:
        await db.exec(text("DROP TRIGGER audit_log_no_update"))  # type: ignore[call-overload]
    await db.exec(
        text("UPDATE audit_log SET purpose = 'nothing to see here' WHERE id = :id"),  # type: ignore[call-overload]
        params={"id": row_id},
    )
    await db.commit()


async def test_every_processing_has_its_row_and_the_chain_verifies(
    db: AsyncSession, world: World, database_kind: str
) -> None:
    # Given the scenario has run
    task = await _scenario(db, world)

    # When the log is read in order
    rows = (await db.exec(select(AuditEntry).order_by(*TRAIL_ORDER))).all()

    # Then each action has its row with the right category, actor and recipient
    assert [(r.category, r.action, r.actor, r.recipient_organisation_id) for r in rows] == [
        ("collection", "referral.create", "user:1", None),
        ("consultation", "victim.read", "user:1", None),
        ("consultation", "case.read", "user:1", None),
        ("consultation", "consent.read", "user:1", None),
        ("disclosure", "task.send", "user:1", world.org_id("cpn")),
        ("disclosure", "victim.view", "user:10", world.org_id("cpn")),
        ("alteration", "task.accept", "user:10", None),
        ("alteration", "consent.withdraw", "user:1", None),
    ]
    assert {r.victim_id for r in rows} == {task.victim_id}
    if database_kind == "sqlite":
        # SQLite chains each row to the one before as it writes it
        assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
        assert all(r.previous_hash == p.row_hash for p, r in itertools.pairwise(rows))
    else:
        # PostgreSQL's rows are never written again: one seal covers them all
        assert {(r.sequence, r.row_hash) for r in rows} == {(None, None)}
        report = await verify_report(db)
        assert (report.sealed, report.unsealed, report.seals) == (len(rows), 0, 1)
    # And no row holds the victim's data, only ids
    for row in rows:
        dumped = repr(row.model_dump())
        assert VICTIM_GIVEN_NAME not in dumped and VICTIM_FAMILY_NAME not in dumped and "07700" not in dumped
    assert await verify_chain(db) is None


async def test_a_tampered_row_is_named_by_verify_chain(db: AsyncSession, world: World, database_kind: str) -> None:
    # Given a verified log
    await _scenario(db, world)
    rows = (await db.exec(select(AuditEntry).order_by(*TRAIL_ORDER))).all()
    target = rows[3].id
    assert target is not None and await verify_chain(db) is None

    # When someone rewrites one row's purpose behind the application's back
    await _tamper(db, database_kind, target)

    # Then verification names exactly that row
    assert await verify_chain(db) == target


async def test_the_database_refuses_to_change_or_delete_log_rows(db: AsyncSession, world: World) -> None:
    await _scenario(db, world)
    with pytest.raises(DBAPIError, match="append-only"):
        await db.exec(text("UPDATE audit_log SET purpose = 'x'"))  # type: ignore[call-overload]
    await db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        await db.exec(text("DELETE FROM audit_log"))  # type: ignore[call-overload]
    await db.rollback()
    assert await verify_chain(db) is None


def _gateway_audit_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_ENV": "development"}
    return subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "verify"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPOSITORY,
        check=False,
    )


async def test_gateway_audit_verify_passes_then_names_the_tampered_row(
    db: AsyncSession, world: World, database_url: str, database_kind: str
) -> None:
    # Given a log written by the scenario
    await _scenario(db, world)
    rows = (await db.exec(select(AuditEntry).order_by(*TRAIL_ORDER))).all()

    # When the command checks it, it passes
    intact = _gateway_audit_verify(database_url)
    assert (intact.returncode, intact.stdout.splitlines()[0]) == (
        0,
        f"OK: {len(rows)} audit rows, hash chain intact",
    ), intact.stderr
    assert intact.stdout.splitlines()[1].startswith(f"sealed: {len(rows)}; unsealed: 0 (oldest none); ")

    # When one row is tampered with, the command fails naming it
    target = rows[5].id
    assert target is not None
    await _tamper(db, database_kind, target)
    await db.close()
    broken = _gateway_audit_verify(database_url)
    assert (broken.returncode, broken.stderr.strip()) == (1, f"BROKEN: the audit chain is broken at row {target}")


async def test_a_supervisor_reads_the_trail_of_a_victim(db: AsyncSession, world: World) -> None:
    # Given the scenario for one victim and another referral for someone else
    task = await _scenario(db, world)
    _, [other] = await make_referral(db, world, providers=("cpn",))

    # When a supervisor reads the first victim's trail
    trail = await read_audit_trail_for_victim(db=db, actor=world.supervisor, victim_id=task.victim_id)

    # Then it is that victim's rows only, the provider's disclosure among them
    assert len(trail) == 8 and {r.victim_id for r in trail} == {task.victim_id}
    assert other.victim_id != task.victim_id
    assert ("victim.view", world.org_id("cpn")) in [(r.action, r.recipient_organisation_id) for r in trail]
