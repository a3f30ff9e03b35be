"""A real `gateway retention run` killed mid-way leaves no half-erased victim, and the next run completes it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, func, select

from gateway.audit.service import verify_chain
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.referrals.models import ContactAttempt, ReferralTask
from tests.data_protection.year import MadeVictim, erasure_rows, holding, make_year, table_texts
from tests.support.casework import Clock
from tests.support.domain import World

REPOSITORY = Path(__file__).resolve().parents[2]
VICTIMS = 30
KILL_AFTER = 3


def _command(database_url: str, *argv: str) -> tuple[list[str], dict[str, str]]:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_ENV": "development"}
    return [sys.executable, "-m", "gateway", "retention", "run", *argv], environment


async def _attempts_of(db: AsyncSession, victim: MadeVictim) -> int:
    found = await db.exec(
        select(func.count())
        .select_from(ContactAttempt)
        .join(ReferralTask, col(ReferralTask.id) == col(ContactAttempt.task_id))
        .where(col(ReferralTask.victim_id) == victim.victim_id)
    )
    count = int(found.one())
    await db.commit()
    return count


async def _erased_and_untouched(db: AsyncSession, made: list[MadeVictim]) -> tuple[list[int], list[int]]:
    """Each victim's state, failing on any victim partly erased."""
    texts = await table_texts(db)
    rows = await erasure_rows(db)
    erased, untouched = [], []
    for index, victim in enumerate(made):
        kinds = Counter(r.subject_ids["kind"] for r in rows if r.victim_id == victim.victim_id)
        present = [mark for mark in victim.marks if holding(texts, mark)]
        written = victim.marks if index % 3 == 0 else victim.marks[:8]  # withheld text only on every third
        attempts = await _attempts_of(db, victim)
        if not present:
            assert kinds["victim-identity"] == 1 and kinds["case"] == 1, (index, kinds)
            assert attempts == 0
            erased.append(index)
        else:
            assert present == list(written), (index, present)
            assert not kinds, (index, kinds)
            assert attempts == (0 if index % 5 == 4 else 1)
            untouched.append(index)
    return erased, untouched


async def test_a_run_killed_mid_way_leaves_no_half_erased_victim_and_the_next_run_completes_it(
    db: AsyncSession, world: World, clock: Clock, database_url: str
) -> None:
    # Given victims whose support closed eight years ago
    made = await make_year(db, world, clock, VICTIMS, start=utc_now() - timedelta(days=8 * 365))

    # When a real `gateway retention run`, two victims a transaction, is killed with SIGKILL after three
    argv, environment = _command(database_url, "--progress", "--batch-size", "2")
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, cwd=REPOSITORY
    )
    assert process.stdout is not None
    done = 0
    async for line in process.stdout:
        done += line.startswith(b"victims ")
        if done == KILL_AFTER:
            process.send_signal(signal.SIGKILL)
            break
    await process.communicate()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"

    # Then every victim is either wholly erased or wholly untouched, and the chain holds
    erased, untouched = await _erased_and_untouched(db, made)
    assert len(erased) >= 2 * KILL_AFTER
    assert untouched, "the run finished before the kill: nothing was interrupted"
    assert await verify_chain(db) is None

    # When the schedule runs again, to the end
    argv, environment = _command(database_url)
    finished = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, cwd=REPOSITORY
    )
    _, errors = await asyncio.wait_for(finished.communicate(), timeout=600)
    assert finished.returncode == 0, errors.decode()

    # Then every victim is erased, each record logged exactly once, and the chain still verifies
    erased, untouched = await _erased_and_untouched(db, made)
    assert (len(erased), untouched) == (VICTIMS, [])
    rows = await erasure_rows(db)
    assert len({tuple(sorted(map(str, r.subject_ids.items()))) for r in rows}) == len(rows)
    assert await verify_chain(db) is None
