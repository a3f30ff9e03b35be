"""The task lifecycle: the status changes each owner makes, from the version it saw, along the allowed transitions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Unpack

from sqlalchemy.sql.elements import ColumnElement

from gateway.auth.principal import Principal, Role, Scope
from gateway.db import AsyncSession
from gateway.errors import Forbidden, InvalidTransition, ValidationFailed
from gateway.events.models import EventType
from gateway.idempotency.service import claim_for
from gateway.kit import require
from gateway.referrals.models import CancelReason, FailReason, ReferralTask, RejectReason, TaskStatus
from gateway.referrals.service.access import (
    PURPOSE_REFERRAL,
    PURPOSE_SUPPORT,
    hub_tasks,
    load_task,
    provider_tasks,
    reason_code,
)
from gateway.referrals.service.changes import TaskChange, after_change, apply_transition, check_can_move, task_audit

# A rule another domain adds to a move, checked on the loaded task before it changes (e.g. an outcome is recorded).
TaskCheck = Callable[[AsyncSession, ReferralTask], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Side:
    """One of a task's two owners acting on it: the scope it needs, the tasks it reaches, why, and whom it tells."""

    scope: Scope
    ownership: Callable[[Principal], ColumnElement[bool]]
    purpose: str
    counterpart: Callable[[ReferralTask], int]


HUB = Side(Scope.REFERRALS_WRITE, hub_tasks, PURPOSE_REFERRAL, lambda task: task.provider_organisation_id)
PROVIDER = Side(Scope.TASKS_WRITE, provider_tasks, PURPOSE_SUPPORT, lambda task: task.hub_organisation_id)


@dataclass(frozen=True, slots=True)
class Move:
    """A status change one side makes: its operation name, its target, and the event the other side is sent."""

    operation: str
    side: Side
    target: TaskStatus
    event: EventType | None = None
    only_from: TaskStatus | None = None
    # The name the reason has in the idempotency fingerprint, as first released: a retry across a release replays.
    reason_key: str | None = "r"


ACCEPT = Move("task.accept", PROVIDER, TaskStatus.ACCEPTED, EventType.TASK_ACCEPTED)
REJECT = Move("task.reject", PROVIDER, TaskStatus.REJECTED, EventType.TASK_REJECTED)
HOLD = Move("task.hold", PROVIDER, TaskStatus.ON_HOLD)
RESUME = Move("task.resume", PROVIDER, TaskStatus.IN_PROGRESS, only_from=TaskStatus.ON_HOLD)
FAIL = Move("task.fail", PROVIDER, TaskStatus.FAILED, EventType.TASK_FAILED)
CANCEL = Move("task.cancel", HUB, TaskStatus.CANCELLED, EventType.TASK_CANCELLED, reason_key="reason")
ENTERED_IN_ERROR = Move(
    "task.entered-in-error", HUB, TaskStatus.ENTERED_IN_ERROR, EventType.TASK_ENTERED_IN_ERROR, reason_key=None
)


async def transition(
    move: Move,
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    idempotency_key: str,
    reason: str | None = None,
    check: TaskCheck | None = None,
) -> ReferralTask:
    """Only the side's own organisation moves its task, from the version it saw; a draft's provider is never told."""
    require(actor, move.side.scope)
    request: dict[str, Any] = {"task_id": task_id, "expected_version": expected_version}
    if move.reason_key is not None:
        request[move.reason_key] = reason
    claim = await claim_for(db=db, actor=actor, operation=move.operation, key=idempotency_key, request=request)
    ownership = move.side.ownership(actor)
    if claim.replayed_result_id is not None:
        return await load_task(db, claim.replayed_result_id, ownership)
    task = await load_task(db, task_id, ownership)
    was_sent = task.status != TaskStatus.DRAFT.value
    check_can_move(task, expected_version, move.target)
    if move.only_from is not None and task.status != move.only_from.value:
        raise InvalidTransition(f"Only a {move.only_from.value} task can be moved this way.")
    if check is not None:
        await check(db, task)
    await apply_transition(db, task, expected_version, move.target, reason, {}, ownership)
    await after_change(
        db,
        actor,
        claim,
        task,
        event=move.event if was_sent else None,
        notify=move.side.counterpart(task),
        audit=task_audit(task, move.operation, move.side.purpose),
    )
    return task


async def accept_task(**change: Unpack[TaskChange]) -> ReferralTask:
    """Only the addressed provider accepts a requested task, and only from the version it saw."""
    return await transition(ACCEPT, **change)


async def hold_task(**change: Unpack[TaskChange]) -> ReferralTask:
    """The provider puts accepted or in-progress work on hold."""
    return await transition(HOLD, **change)


async def resume_task(**change: Unpack[TaskChange]) -> ReferralTask:
    """The provider resumes work on hold; it is then in progress (accepted work starts with first contact)."""
    return await transition(RESUME, **change)


async def reject_task(*, reason: RejectReason, **change: Unpack[TaskChange]) -> ReferralTask:
    """The addressed provider rejects a requested task with one of the reject reason codes."""
    return await transition(REJECT, reason=reason_code(RejectReason, reason), **change)


async def fail_task(*, reason: FailReason, **change: Unpack[TaskChange]) -> ReferralTask:
    """The provider closes work it could not do, with a fail reason code."""
    return await transition(FAIL, reason=reason_code(FailReason, reason), **change)


async def cancel_task(*, reason: CancelReason, **change: Unpack[TaskChange]) -> ReferralTask:
    """The Hub cancels its sent task with a reason; consent-withdrawn comes only from withdrawing consent."""
    require(change["actor"], Scope.REFERRALS_WRITE)
    reason = CancelReason(reason_code(CancelReason, reason))
    if reason is CancelReason.CONSENT_WITHDRAWN:
        raise ValidationFailed("Withdraw the consent instead: that cancels every task it covered.")
    return await transition(CANCEL, reason=reason.value, **change)


async def mark_task_entered_in_error(**change: Unpack[TaskChange]) -> ReferralTask:
    """Only a Hub supervisor marks a task entered-in-error, from any state; a sent task's provider is told."""
    require(change["actor"], Scope.REFERRALS_WRITE)
    if Role.HUB_SUPERVISOR not in change["actor"].roles:
        raise Forbidden()
    return await transition(ENTERED_IN_ERROR, **change)
