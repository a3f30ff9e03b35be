"""Sub-status: what the provider has done within a state (viewed, first contact, appointment, waitlist, attempts)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any, Unpack

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.audit.service import append_audit
from gateway.auth.principal import Principal, Scope
from gateway.clock import as_utc, not_in_future, utc_now
from gateway.db import AsyncSession
from gateway.errors import Conflict, InvalidTransition, ValidationFailed
from gateway.idempotency.service import claim_for, remember_result
from gateway.kit import first_or_not_found, require
from gateway.referrals.models import ContactAttempt, ContactMethod, ContactResult, ReferralTask, TaskStatus
from gateway.referrals.service.access import PURPOSE_SUPPORT, load_task, provider_tasks, visible_tasks
from gateway.referrals.service.changes import TaskChange, after_change, apply_update, task_audit

# The statuses in which the provider is working the case and may record contact and plans.
WORKING_STATUSES = frozenset({TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS, TaskStatus.ON_HOLD})


async def _record_progress(
    operation: str,
    request: dict[str, Any],
    compute: Callable[[ReferralTask], dict[str, Any]],
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    idempotency_key: str,
) -> ReferralTask:
    require(actor, Scope.TASKS_WRITE)
    claim = await claim_for(
        db=db,
        actor=actor,
        operation=operation,
        key=idempotency_key,
        request={"task_id": task_id, "expected_version": expected_version, **request},
    )
    ownership = provider_tasks(actor)
    if claim.replayed_result_id is not None:
        return await load_task(db, claim.replayed_result_id, ownership)
    task = await load_task(db, task_id, ownership)
    if task.version != expected_version:
        raise Conflict()
    if task.status not in WORKING_STATUSES:
        raise InvalidTransition(f"This cannot be recorded on a {task.status} task.")
    await apply_update(db, task, expected_version, compute(task), ownership)
    await after_change(db, actor, claim, task, audit=task_audit(task, operation, PURPOSE_SUPPORT))
    return task


def moment_on_task(task: ReferralTask, moment: datetime, what: str, *, ahead: bool = False) -> datetime:
    """A moment recorded on a task is never before the task was sent, nor (unless it is planned ahead) in the future."""
    # The floor is the sending, not the acceptance: `accepted_at` is when the provider pressed accept, which can
    # follow a call it made on reading the referral, and the first-contact target runs from the sending.
    moment = as_utc(moment) if ahead else not_in_future(moment, what)
    if task.requested_at is not None and moment < as_utc(task.requested_at):
        raise ValidationFailed(f"The {what} cannot be before the task was sent.")
    return moment


async def record_first_contact(*, contacted_at: datetime, **change: Unpack[TaskChange]) -> ReferralTask:
    """The provider records first contact once, not before the task was sent; accepted work is then in progress."""
    require(change["actor"], Scope.TASKS_WRITE)  # deny before looking at the input

    def compute(task: ReferralTask) -> dict[str, Any]:
        moment = moment_on_task(task, contacted_at, "first contact")
        if task.first_contact_at is not None:
            raise InvalidTransition("First contact is already recorded.")
        values: dict[str, Any] = {"first_contact_at": moment}
        if task.status == TaskStatus.ACCEPTED.value:
            values["status"] = TaskStatus.IN_PROGRESS.value
        return values

    return await _record_progress("task.first-contact", {"contacted_at": as_utc(contacted_at)}, compute, **change)


async def schedule_appointment(*, appointment_at: datetime, **change: Unpack[TaskChange]) -> ReferralTask:
    """The provider records the next appointment on work it holds; it may lie ahead, never before the sending."""
    request = {"appointment_at": as_utc(appointment_at)}

    def compute(task: ReferralTask) -> dict[str, Any]:
        return {"appointment_at": moment_on_task(task, appointment_at, "appointment", ahead=True)}

    return await _record_progress("task.appointment", request, compute, **change)


async def set_task_waitlisted(*, waitlisted: bool, **change: Unpack[TaskChange]) -> ReferralTask:
    """The provider marks work it holds as waiting for capacity, or no longer waiting."""
    values = {"waitlisted": waitlisted}
    return await _record_progress("task.waitlist", values, lambda task: values, **change)


async def mark_task_viewed(*, db: AsyncSession, actor: Principal, task_id: int) -> ReferralTask:
    """The provider's first look at a sent task is stamped once; it does not change the version."""
    require(actor, Scope.TASKS_READ)
    task = await load_task(db, task_id, provider_tasks(actor))
    if task.viewed_at is None:
        # Setting a timestamp only when empty is naturally idempotent, so no key and no version are needed.
        await db.exec(
            sa.update(ReferralTask)
            .where(col(ReferralTask.id) == task.id, col(ReferralTask.viewed_at).is_(None))
            .values(viewed_at=utc_now())
            .execution_options(synchronize_session=False)
        )
        await db.refresh(task)
    return task


async def record_contact_attempt(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    attempted_at: datetime,
    method: ContactMethod,
    result: ContactResult,
    idempotency_key: str,
) -> ContactAttempt:
    """The provider logs each try at reaching the victim (time, method, result) on work it holds, since it was sent."""
    require(actor, Scope.TASKS_WRITE)
    method, result = ContactMethod(method), ContactResult(result)
    claim = await claim_for(
        db=db,
        actor=actor,
        operation="task.contact-attempt",
        key=idempotency_key,
        request={
            "task_id": task_id,
            "attempted_at": as_utc(attempted_at),
            "method": method.value,
            "result": result.value,
        },
    )
    if claim.replayed_result_id is not None:
        return await first_or_not_found(
            db,
            select(ContactAttempt)
            .join(ReferralTask, col(ReferralTask.id) == col(ContactAttempt.task_id))
            .where(col(ContactAttempt.id) == claim.replayed_result_id, visible_tasks(actor)),
        )
    task = await load_task(db, task_id, provider_tasks(actor))
    if task.status not in WORKING_STATUSES:
        raise InvalidTransition(f"Contact attempts cannot be recorded on a {task.status} task.")
    assert task.id is not None
    attempt = ContactAttempt(
        task_id=task.id,
        attempted_at=moment_on_task(task, attempted_at, "contact attempt"),
        method=method.value,
        result=result.value,
        recorded_by=actor.actor_label,
    )
    db.add(attempt)
    await db.flush()
    assert attempt.id is not None
    audit = task_audit(task, "task.contact-attempt", PURPOSE_SUPPORT)
    await append_audit(
        db=db,
        actor=actor,
        records=[dataclasses.replace(audit, subject_ids={**audit.subject_ids, "attempt": attempt.id})],
    )
    await remember_result(db=db, claim=claim, result_id=attempt.id)
    return attempt
