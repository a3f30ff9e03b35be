"""How any change to a task is made: the lifecycle check, the versioned UPDATE, then the event, audit and result."""

from __future__ import annotations

from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import Conflict, InvalidTransition
from gateway.events.models import EventType
from gateway.events.service import record_event
from gateway.idempotency.service import IdempotencyClaim, remember_result
from gateway.referrals.models import ALLOWED_TRANSITIONS, TERMINAL_STATUSES, ReferralTask, TaskStatus


class TaskChange(TypedDict):
    """What every change to a task is called with: who acts, on which task, from which version, under which key."""

    db: AsyncSession
    actor: Principal
    task_id: int
    expected_version: int
    idempotency_key: str


def check_can_move(task: ReferralTask, expected_version: int, target: TaskStatus) -> None:
    """Refuse a stale version with Conflict, and a move the lifecycle does not have with InvalidTransition."""
    if task.version != expected_version:
        raise Conflict()
    current = TaskStatus(task.status)
    allowed = (
        current is not TaskStatus.ENTERED_IN_ERROR
        if target is TaskStatus.ENTERED_IN_ERROR
        else target in ALLOWED_TRANSITIONS[current]
    )
    if not allowed:
        raise InvalidTransition(f"A task cannot go from {current.value} to {target.value}.")


async def apply_update(
    db: AsyncSession,
    task: ReferralTask,
    expected_version: int,
    values: dict[str, Any],
    ownership: ColumnElement[bool],
) -> None:
    """UPDATE ... WHERE id = :id AND version = :seen: of two racing writers exactly one changes the row."""
    result = await db.exec(
        sa.update(ReferralTask)
        .where(col(ReferralTask.id) == task.id, col(ReferralTask.version) == expected_version, ownership)
        .values(**values, version=expected_version + 1, updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict()
    await db.refresh(task)


async def apply_transition(
    db: AsyncSession,
    task: ReferralTask,
    expected_version: int,
    target: TaskStatus,
    reason: str | None,
    values: dict[str, Any],
    ownership: ColumnElement[bool],
) -> None:
    """Move the task to the target status, stamping when it was accepted or closed."""
    now = utc_now()
    stamps: dict[str, Any] = {}
    if target is TaskStatus.ACCEPTED:
        stamps["accepted_at"] = now
    if target in TERMINAL_STATUSES:
        stamps["closed_at"] = now
    await apply_update(
        db, task, expected_version, {"status": target.value, "status_reason": reason, **stamps, **values}, ownership
    )


async def after_change(
    db: AsyncSession,
    actor: Principal,
    claim: IdempotencyClaim,
    task: ReferralTask,
    *,
    audit: AuditRecord,
    event: EventType | None = None,
    notify: int | None = None,
) -> None:
    """Tell the other organisation (when there is an event), audit the change, and remember it for retries."""
    assert task.id is not None
    if event is not None and notify is not None:
        await record_event(
            db=db,
            event_type=event,
            organisation_id=notify,
            # The task's reference is a code (referral number and provider), so e-mails can name the task.
            subject_ids={
                "task": task.id,
                "referral": task.referral_id,
                "reference": task.reference,
                "status": task.status,
            },
        )
    await append_audit(db=db, actor=actor, records=[audit])
    await remember_result(db=db, claim=claim, result_id=task.id)


def task_audit(task: ReferralTask, action: str, purpose: str) -> AuditRecord:
    """The log row of a change to one task."""
    return AuditRecord(
        category=AuditCategory.ALTERATION,
        action=action,
        purpose=purpose,
        victim_id=task.victim_id,
        subject_ids={"task": task.id, "referral": task.referral_id},
        safeguarding_override=task.safeguarding_override,
    )
