"""The `gateway` command, run as a real process against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from gateway.audit.models import AuditEntry
from gateway.audit.service import verify_chain
from gateway.db import AsyncSession
from gateway.demo import STORIES
from gateway.organisations.models import Organisation
from gateway.outcomes.models import OutcomeRecord
from gateway.referrals.models import ReferralTask, SelfReferral
from gateway.restorative_justice.models import RjCase
from gateway.schema import export_sdl

REPOSITORY = Path(__file__).resolve().parent.parent


def gateway(*argv: str, database_url: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_ENV": "development"}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *argv],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPOSITORY,
        check=False,
    )


def test_check_fails_on_an_unmigrated_database_and_passes_after_upgrade(empty_database_url: str) -> None:
    before = gateway("check", database_url=empty_database_url)
    upgraded = gateway("db", "upgrade", database_url=empty_database_url)
    after = gateway("check", database_url=empty_database_url)
    current = gateway("db", "current", database_url=empty_database_url)

    assert before.returncode == 1 and "not ready" in before.stderr and "gateway db upgrade" in before.stderr
    assert upgraded.returncode == 0
    assert after.returncode == 0 and after.stdout.startswith("ok:")
    lines = current.stdout.splitlines()
    assert lines[0].split()[-1] == lines[1].split()[-1] != "none"


def test_check_refuses_a_production_configuration_with_placeholders(empty_database_url: str) -> None:
    environment = {**os.environ, "GATEWAY_ENV": "production", "GATEWAY_DATABASE_URL": empty_database_url}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPOSITORY,
        check=False,
    )

    assert result.returncode != 0
    assert "GATEWAY_ISSUER_URL" in result.stderr


async def test_seed_demo_is_idempotent(database_url: str, db: AsyncSession) -> None:
    first = gateway("seed", "demo", database_url=database_url)
    second = gateway("seed", "demo", database_url=database_url)

    organisations = (await db.exec(select(Organisation).order_by(Organisation.slug))).all()
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert [o.slug for o in organisations] == [
        "cpn",
        "family-action",
        "hub",
        "opcc",
        "rape-crisis",
        "rj-hub",
        "road-victims-trust",
    ]
    assert {o.slug: o.roles for o in organisations}["hub"] == ["referrer"]
    assert {o.slug: o.roles for o in organisations}["opcc"] == ["commissioner"]
    assert first.stdout.count("created") == 8 and second.stdout.count("created") == 0
    assert "exists  demo casework" in second.stdout


async def test_seed_demo_leaves_casework_at_every_step_with_an_intact_audit_chain(
    database_url: str, db: AsyncSession
) -> None:
    # When a newcomer seeds the demo
    result = gateway("seed", "demo", database_url=database_url)
    assert result.returncode == 0, result.stderr

    # Then there is a task at every step of the journey, self-referrals waiting, an RJ case and outcomes
    statuses = dict((await db.exec(select(ReferralTask.status, func.count()).group_by(col(ReferralTask.status)))).all())
    assert statuses == {
        "draft": 1,
        "requested": 2,
        "accepted": 3,
        "in-progress": 2,
        "completed": 2,
        "rejected": 1,
        "cancelled": 1,
    }
    assert (await db.exec(select(func.count()).select_from(SelfReferral))).one() == 2
    assert (await db.exec(select(func.count()).select_from(RjCase))).one() == 1
    assert (await db.exec(select(func.count()).select_from(OutcomeRecord))).one() == 2
    # And every step went through the services: audited, with the chain intact
    assert await verify_chain(db) is None
    assert (await db.exec(select(func.count()).select_from(AuditEntry))).one() > len(STORIES)


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
def test_export_schema_prints_the_sdl(database_url: str) -> None:
    result = gateway("export-schema", database_url=database_url)

    assert result.returncode == 0
    assert result.stdout == export_sdl()
