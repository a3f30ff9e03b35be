"""Lists and batch loaders: the inbox, overdue work, the Hub's referrals and their relations, one query per relation.

The GraphQL dataloaders call the loaders here: one query per relation, never one per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, queue_audit
from gateway.auth.principal import Principal, Scope
from gateway.clock import as_utc, utc_now
from gateway.db import AsyncSession
from gateway.errors import ValidationFailed
from gateway.kit import page_size, require, require_any
from gateway.referrals.models import OPEN_STATUSES, Case, ContactAttempt, Referral, ReferralTask, TaskStatus
from gateway.referrals.service.access import (
    PURPOSE_REFERRAL,
    TASKS,
    hub_tasks,
    load_own_referral,
    provider_tasks,
    rows,
    visible_tasks,
)

_ATTEMPTS: sa.Table = ContactAttempt.__table__  # type: ignore[attr-defined]


class OverdueReason(StrEnum):
    ACCEPT = "accept-overdue"
    FIRST_CONTACT = "first-contact-overdue"


@dataclass(frozen=True, slots=True)
class OverdueTask:
    task: ReferralTask
    reasons: tuple[OverdueReason, ...]


class ContactAttemptRecord(NamedTuple):
    """One contact attempt as the inbox shows it.

    A plain tuple rather than the database row: GraphQL execution asks every list item whether it is awaitable,
    and a missing attribute on a SQLAlchemy row costs a Python-level lookup and an exception each time.
    """

    id: int
    task_id: int
    attempted_at: datetime
    method: str
    result: str


def _overdue_clause(now: datetime) -> ColumnElement[bool]:
    return sa.or_(
        sa.and_(col(ReferralTask.status) == TaskStatus.REQUESTED.value, col(ReferralTask.accept_due_at) < now),
        sa.and_(
            col(ReferralTask.status).in_([s.value for s in OPEN_STATUSES]),
            col(ReferralTask.first_contact_at).is_(None),
            col(ReferralTask.first_contact_due_at) < now,
        ),
    )


def overdue_reasons(task: ReferralTask, *, now: datetime | None = None) -> tuple[OverdueReason, ...]:
    """Which time limits an open task has missed: accepting it, and first contact against the provider's target."""
    now = as_utc(now or utc_now())
    reasons: list[OverdueReason] = []
    if task.status == TaskStatus.REQUESTED.value and task.accept_due_at and as_utc(task.accept_due_at) < now:
        reasons.append(OverdueReason.ACCEPT)
    if (
        task.status in OPEN_STATUSES
        and task.first_contact_at is None
        and task.first_contact_due_at
        and as_utc(task.first_contact_due_at) < now
    ):
        reasons.append(OverdueReason.FIRST_CONTACT)
    return tuple(reasons)


async def list_inbox(
    *,
    db: AsyncSession,
    actor: Principal,
    statuses: Sequence[TaskStatus] | None = None,
    overdue_only: bool = False,
    after_id: int | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[Any]:
    """A provider's sent tasks, oldest first after the cursor, optionally by status and overdue, in one query.

    Plain rows with a ReferralTask's attributes, not ORM objects: the inbox only reads them.
    """
    require(actor, Scope.TASKS_READ)
    query = sa.select(TASKS).where(provider_tasks(actor))
    if statuses:
        query = query.where(TASKS.c.status.in_([TaskStatus(s).value for s in statuses]))
    if overdue_only:
        query = query.where(_overdue_clause(as_utc(now or utc_now())))
    if after_id is not None:
        query = query.where(TASKS.c.id > after_id)
    return list(await rows(db, query.order_by(TASKS.c.id).limit(page_size(limit))))


class InboxOrder(StrEnum):
    """How a provider's inbox page is sorted: by the next time limit falling due, or by when each task was sent."""

    DUE = "due"
    RECEIVED = "received"


# Numbered pages go this deep at most: further than any person pages, and a bound on the database's OFFSET work.
MAX_INBOX_OFFSET = 10_000


@dataclass(frozen=True, slots=True)
class InboxPage:
    tasks: list[Any]  # plain rows with a ReferralTask's attributes
    total: int  # how many tasks the filters match, for numbered pages


def next_due_at() -> ColumnElement[Any]:
    """The time limit a task must meet next: accepting it while requested, then first contact while that is
    still to come on open work; nothing once both are met or the task is closed."""
    return sa.case(
        (TASKS.c.status == TaskStatus.REQUESTED.value, TASKS.c.accept_due_at),
        (
            sa.and_(
                TASKS.c.status.in_([s.value for s in OPEN_STATUSES]),
                TASKS.c.first_contact_at.is_(None),
            ),
            TASKS.c.first_contact_due_at,
        ),
        else_=sa.null(),
    )


async def list_inbox_page(
    *,
    db: AsyncSession,
    actor: Principal,
    statuses: Sequence[TaskStatus] | None = None,
    overdue_only: bool = False,
    order: InboxOrder = InboxOrder.DUE,
    descending: bool = False,
    offset: int = 0,
    limit: int = 20,
    now: datetime | None = None,
) -> InboxPage:
    """A numbered page of the provider's sent tasks, sorted by the next limit due (tasks with none last) or by
    when each was sent, optionally by status and overdue, with the count of all that match: two queries."""
    require(actor, Scope.TASKS_READ)
    order = InboxOrder(order)
    if not 0 <= offset <= MAX_INBOX_OFFSET:
        raise ValidationFailed(f"A page starts within the first {MAX_INBOX_OFFSET} tasks.")
    limit = page_size(limit)
    conditions: list[ColumnElement[bool]] = [provider_tasks(actor)]
    if statuses:
        conditions.append(TASKS.c.status.in_([TaskStatus(s).value for s in statuses]))
    if overdue_only:
        conditions.append(_overdue_clause(as_utc(now or utc_now())))
    key = next_due_at() if order is InboxOrder.DUE else TASKS.c.requested_at
    sort = sa.nulls_last(key.desc() if descending else key.asc())
    tie = TASKS.c.id.desc() if descending else TASKS.c.id.asc()
    query = sa.select(TASKS).where(*conditions).order_by(sort, tie).offset(offset).limit(limit)
    found = list(await rows(db, query))
    total = (await rows(db, sa.select(sa.func.count()).select_from(TASKS).where(*conditions)))[0][0]
    return InboxPage(tasks=found, total=int(total))


async def list_overdue_tasks(
    *,
    db: AsyncSession,
    actor: Principal,
    now: datetime | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[OverdueTask]:
    """Overdue open tasks the actor's organisation can see: the Hub across its referrals, a provider its own."""
    require_any(actor, Scope.REFERRALS_READ, Scope.TASKS_READ)
    now = as_utc(now or utc_now())
    query = select(ReferralTask).where(visible_tasks(actor), _overdue_clause(now))
    if after_id is not None:
        query = query.where(col(ReferralTask.id) > after_id)
    found = await db.exec(query.order_by(col(ReferralTask.id)).limit(page_size(limit)))
    return [OverdueTask(task, overdue_reasons(task, now=now)) for task in found.all()]


async def get_referral(*, db: AsyncSession, actor: Principal, referral_id: int) -> Referral:
    """The Hub reads a referral it owns."""
    require(actor, Scope.REFERRALS_READ)
    return await load_own_referral(db, actor, referral_id)


async def list_referrals(
    *, db: AsyncSession, actor: Principal, after_id: int | None = None, limit: int = 50
) -> list[Referral]:
    """The Hub's own referrals, oldest first after the cursor, in one query."""
    require(actor, Scope.REFERRALS_READ)
    query = select(Referral).where(col(Referral.hub_organisation_id) == actor.organisation_id)
    if after_id is not None:
        query = query.where(col(Referral.id) > after_id)
    found = await db.exec(query.order_by(col(Referral.id)).limit(page_size(limit)))
    return list(found.all())


async def load_tasks_for_referrals(
    *, db: AsyncSession, actor: Principal, referral_ids: Sequence[int]
) -> dict[int, list[ReferralTask]]:
    """Each owned referral's tasks, in one query."""
    require(actor, Scope.REFERRALS_READ)
    found: dict[int, list[ReferralTask]] = {referral_id: [] for referral_id in referral_ids}
    if referral_ids:
        tasks = await db.exec(
            select(ReferralTask)
            .where(col(ReferralTask.referral_id).in_(set(referral_ids)), hub_tasks(actor))
            .order_by(col(ReferralTask.id))
        )
        for task in tasks.all():
            found[task.referral_id].append(task)
    return found


async def load_cases_for_referrals(
    *, db: AsyncSession, actor: Principal, referral_ids: Sequence[int]
) -> dict[int, Case]:
    """Each owned referral's case (personal data: audited as a consultation), in one query."""
    require(actor, Scope.REFERRALS_READ)
    if not referral_ids:
        return {}
    pairs = (
        await db.exec(
            select(Referral.id, Case)
            .join(Case, col(Case.id) == col(Referral.case_id))
            .where(col(Referral.id).in_(set(referral_ids)), col(Referral.hub_organisation_id) == actor.organisation_id)
        )
    ).all()
    found = {int(referral_id): case for referral_id, case in pairs if referral_id is not None}
    queue_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.CONSULTATION,
                action="case.read",
                purpose=PURPOSE_REFERRAL,
                victim_id=case.victim_id,
                subject_ids={"referral": referral_id, "case": case.id},
            )
            for referral_id, case in sorted(found.items())
        ],
    )
    return found


async def load_contact_attempts_for_tasks(
    *, db: AsyncSession, actor: Principal, task_ids: Sequence[int]
) -> dict[int, list[Any]]:
    """Contact attempts on tasks the actor can see, oldest first, in one query: rows of id, task_id, attempted_at,
    method and result."""
    require_any(actor, Scope.REFERRALS_READ, Scope.TASKS_READ)
    found: dict[int, list[Any]] = {task_id: [] for task_id in task_ids}
    if task_ids:
        attempts = _ATTEMPTS.c
        statement = (
            sa.select(attempts.id, attempts.task_id, attempts.attempted_at, attempts.method, attempts.result)
            .join(ReferralTask, col(ReferralTask.id) == attempts.task_id)
            .where(attempts.task_id.in_(set(task_ids)), visible_tasks(actor))
            .order_by(attempts.attempted_at, attempts.id)
        )
        for attempt in await rows(db, statement):
            found[attempt.task_id].append(ContactAttemptRecord._make(attempt))
    return found
