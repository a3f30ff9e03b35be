"""Erasure by the retention schedule: what is past its time goes, each record with one s.62 `erasure` row.

Victims are erased whole, a batch of them per transaction (one each with `victims_per_transaction=1`), each checked
again under its row lock inside it (a legal hold placed or a task reopened meanwhile stops it), so a run killed at
any moment leaves each victim either untouched or wholly erased, and the next run carries on where it stopped.
Statements work on the whole batch (an IN list of its victims), so a million tasks take minutes, not hours.
Erasing only ever removes what is still there (a name not yet blanked, a note not yet cleared, a row not yet
deleted), so a second run finds nothing more and logs nothing more. Everything monitoring counts stays: the task's
status, provider, consent link and dates, the victim's equality answers as the codes monitoring reads, the
statistics consent, and the outcome records.

This module runs the schedule; retention_victims.py erases whole victims, retention_sweeps.py the records not
tied to one victim, and retention_tables.py holds what they share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker

from gateway.audit.service import append_audit
from gateway.data_protection.schedule import Action, RecordKind, rule_for
from gateway.data_protection.service.access import retention_actor
from gateway.data_protection.service.retention_sweeps import Sweep, due_events, erase_events, sweeps
from gateway.data_protection.service.retention_tables import EVENTS, VICTIMS, Erased, execute, fetch_rows
from gateway.data_protection.service.retention_victims import erase_victims, victim_standing
from gateway.db import AsyncSession

__all__ = ["ERASED_KINDS", "RetentionReport", "run_retention"]


BATCH = 500
# Whole victims per transaction: each is erased entirely or not at all; a few hundred keep every lock short.
VICTIMS_PER_TRANSACTION = 200
ERASED_KINDS = tuple(k for k in RecordKind if rule_for(k).action is not Action.KEEP)
Progress = Callable[[str], None]


@dataclass
class RetentionReport:
    """What a run erased (or, dry, would erase): records per kind, victims touched, victims held."""

    dry_run: bool
    counts: dict[RecordKind, int] = field(default_factory=lambda: dict.fromkeys(ERASED_KINDS, 0))
    victims: int = 0
    held: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def _finish(db: AsyncSession, erased: list[Erased], report: RetentionReport) -> None:
    """Log one erasure row per record, grouped by the organisation acting, then commit (or, dry, roll back)."""
    by_organisation: dict[int, list[Erased]] = {}
    for item in erased:
        by_organisation.setdefault(item.organisation_id, []).append(item)
    for organisation_id, items in sorted(by_organisation.items()):
        await append_audit(db=db, actor=retention_actor(organisation_id), records=[i.audit() for i in items])
    if report.dry_run:
        await db.rollback()
    else:
        await db.commit()
    for item in erased:
        report.counts[item.kind] += 1


async def run_retention(
    *,
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    dry_run: bool = False,
    progress: Progress | None = None,
    victims_per_transaction: int = VICTIMS_PER_TRANSACTION,
) -> RetentionReport:
    """Erase everything past its time under the schedule, whole victims (or a batch of other rows) per transaction.

    A victim under a legal hold is left whole. With dry_run every change is made and then rolled back, so the
    counts are exactly what a real run would erase.
    """
    report = RetentionReport(dry_run=dry_run)
    say = progress or (lambda _line: None)
    async with sessions() as db:
        standing = await fetch_rows(db, victim_standing(now).order_by(VICTIMS.c.id))
    report.held = sum(1 for row in standing if row.held)
    candidates = [int(row.id) for row in standing if not row.held]
    for start in range(0, len(candidates), victims_per_transaction):
        batch = candidates[start : start + victims_per_transaction]
        async with sessions() as db:
            erased, touched = await erase_victims(db, batch, now)
            await _finish(db, erased, report)
        report.victims += touched
        if erased:
            say(f"victims {batch[0]} to {batch[-1]}: {len(erased)} records")
    for sweep in sweeps():
        await _sweep(sessions, sweep, now, report, say)
    await _sweep_events(sessions, now, report, say)
    return report


async def _sweep(
    sessions: async_sessionmaker[AsyncSession], sweep: Sweep, now: datetime, report: RetentionReport, say: Progress
) -> None:
    last = 0
    while True:
        async with sessions() as db:
            statement = sweep.due(now).where(sweep.table.c.id > last).order_by(sweep.table.c.id).limit(BATCH)
            if sweep.erase is not None:
                statement = statement.with_for_update(of=sweep.table)
            batch = await fetch_rows(db, statement)
            if not batch:
                return
            ids = [int(r[0]) for r in batch]
            if sweep.erase is None:
                await execute(db, sweep.table.delete().where(sweep.table.c.id.in_(ids)))
            else:
                await execute(db, sweep.table.update().where(sweep.table.c.id.in_(ids)).values(**sweep.erase))
            erased = [Erased(sweep.kind, sweep.subject, int(r[0]), int(r[1])) for r in batch]
            await _finish(db, erased, report)
        last = ids[-1]
        say(f"{sweep.kind.value}: {len(erased)} records")


async def _sweep_events(
    sessions: async_sessionmaker[AsyncSession], now: datetime, report: RetentionReport, say: Progress
) -> None:
    last = 0
    while True:
        async with sessions() as db:
            batch = await fetch_rows(db, due_events(now).where(EVENTS.c.id > last).order_by(EVENTS.c.id).limit(BATCH))
            if not batch:
                return
            erased = await erase_events(db, batch)
            await _finish(db, erased, report)
        last = int(batch[-1].id)
        say(f"{RecordKind.OUTBOX_EVENT.value}: {len(batch)} events")
