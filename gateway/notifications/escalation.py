"""The overdue sweep: open tasks that missed a Victims' Code timeliness aim are escalated once, to both owners.

A task missing its accept-by time, or its provider's first-contact target, gets one task_escalations row per kind
and one event each to the Hub and to the provider. The unique (task_id, kind) row makes the sweep idempotent: run
it as often as you like, from as many processes as you like; an insert that loses a race records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from gateway.clock import as_utc, utc_now
from gateway.db import AsyncSession
from gateway.events.models import EventType
from gateway.events.service import record_event
from gateway.notifications.models import EscalationKind, TaskEscalation
from gateway.referrals.models import OPEN_STATUSES, ReferralTask, TaskStatus

__all__ = ["Escalation", "sweep_overdue_tasks"]

SWEEP_BATCH: Final = 500
EVENT_FOR_KIND: Final = {
    EscalationKind.ACCEPT_OVERDUE: EventType.TASK_ACCEPT_OVERDUE,
    EscalationKind.FIRST_CONTACT_OVERDUE: EventType.TASK_FIRST_CONTACT_OVERDUE,
}


@dataclass(frozen=True, slots=True)
class Escalation:
    task_id: int
    kind: EscalationKind


def _overdue(kind: EscalationKind, now: datetime) -> ColumnElement[bool]:
    if kind is EscalationKind.ACCEPT_OVERDUE:
        return sa.and_(col(ReferralTask.status) == TaskStatus.REQUESTED.value, col(ReferralTask.accept_due_at) < now)
    return sa.and_(
        col(ReferralTask.status).in_([s.value for s in OPEN_STATUSES]),
        col(ReferralTask.first_contact_at).is_(None),
        col(ReferralTask.first_contact_due_at) < now,
    )


async def _insert_once(db: AsyncSession, kind: EscalationKind, task_ids: list[int], now: datetime) -> set[int]:
    """Insert one escalation per task, skipping any already there; the tasks this call inserted."""
    connection = await db.connection()
    insert: Any = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(TaskEscalation)
        .values([{"task_id": task_id, "kind": kind.value, "recorded_at": now} for task_id in task_ids])
        .on_conflict_do_nothing(index_elements=["task_id", "kind"])
        .returning(col(TaskEscalation.task_id))
    )
    return {int(row[0]) for row in (await db.exec(statement)).all()}


async def sweep_overdue_tasks(
    *, db: AsyncSession, now: datetime | None = None, limit: int = SWEEP_BATCH
) -> list[Escalation]:
    """Escalate each open overdue task once per kind: an escalation row, and an event to the Hub and the provider.

    Handles at most `limit` tasks per kind; the caller commits and calls again while a full batch came back.
    """
    moment = as_utc(now or utc_now())
    escalated: list[Escalation] = []
    for kind in EscalationKind:
        already = select(TaskEscalation.id).where(
            col(TaskEscalation.task_id) == col(ReferralTask.id), col(TaskEscalation.kind) == kind.value
        )
        tasks = list(
            (
                await db.exec(
                    select(ReferralTask)
                    .where(_overdue(kind, moment), ~sa.exists(already))
                    .order_by(col(ReferralTask.id))
                    .limit(limit)
                )
            ).all()
        )
        if not tasks:
            continue
        inserted = await _insert_once(db, kind, [task.id for task in tasks if task.id is not None], moment)
        for task in tasks:
            if task.id not in inserted:
                continue
            subject_ids = {"task": task.id, "referral": task.referral_id, "reference": task.reference}
            # The Hub first: it owns the referral and chases the provider; the provider sees its own deadline.
            for organisation_id in (task.hub_organisation_id, task.provider_organisation_id):
                await record_event(
                    db=db, event_type=EVENT_FOR_KIND[kind], organisation_id=organisation_id, subject_ids=subject_ids
                )
            escalated.append(Escalation(task_id=task.id, kind=kind))
    return escalated
