"""`gateway retention show`, `retention run --dry-run` and `subject-access export` as the officer runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.auth import service as auth
from gateway.data_protection.schedule import RecordKind
from gateway.db import AsyncSession
from tests.support.domain import World, adult_victim, make_referral

REPOSITORY = Path(__file__).resolve().parents[2]


async def _gateway(database_url: str, *argv: str) -> tuple[int, str, str]:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_ENV": "development"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *argv,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, cwd=REPOSITORY,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_schedule_is_shown_and_a_dry_run_changes_nothing(database_url: str) -> None:
    code, shown, _ = await _gateway(database_url, "retention", "show")
    assert code == 0
    for kind in RecordKind:
        assert f"\n{kind.value}\n" in f"\n{shown}"
    code, dry, _ = await _gateway(database_url, "retention", "run", "--dry-run")
    assert code == 0
    assert "victim-identity      would erase 0" in dry
    assert "total                would erase 0" in dry


async def test_the_officer_exports_a_victims_records_from_the_command_line(
    db: AsyncSession, world: World, database_url: str, tmp_path: Path
) -> None:
    # Given a victim, and an officer and a co-ordinator who have accounts
    referral, _ = await make_referral(db, world, victim=adult_victim(given_name="Clementine"))
    for email, role in (("officer@hub.test", "data-protection-officer"), ("coordinator@hub.test", "hub-coordinator")):
        await auth.add_user(db=db, organisation_slug="hub", email=email, roles=[role], password="a long password 1")
    await db.commit()
    victim = str(referral.victim_id)

    # When the officer exports it as JSON and as HTML
    code, out, _ = await _gateway(
        database_url, "subject-access", "export", "--victim", victim, "--officer", "officer@hub.test"
    )
    assert code == 0
    assert json.loads(out)["identity"]["given_name"] == "Clementine"
    page = tmp_path / "export.html"
    code, _, said = await _gateway(
        database_url, "subject-access", "export", "--victim", victim, "--officer", "OFFICER@hub.test",
        "--format", "html", "--output", str(page),
    )  # fmt: skip
    assert code == 0 and "written to" in said
    assert "<title>Subject access export</title>" in page.read_text()

    # Then anyone else is refused, and the refusal repeats nothing it was given
    code, out, said = await _gateway(
        database_url, "subject-access", "export", "--victim", victim, "--officer", "coordinator@hub.test"
    )
    assert code != 0 and out == ""
    assert "No active data-protection officer" in said and "coordinator@hub.test" not in said
