"""The records not tied to one victim, swept in batches of rows: untriaged and closed self-referrals, RJ parties,
agreement actions and conferences of closed cases (unless a legal hold covers them), idempotency keys, issued tokens,
and outbox events with their delivery log. Apart from the victims' erasure, whose unit is a whole victim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gateway.data_protection.schedule import RecordKind
from gateway.data_protection.service.retention_tables import (
    ACTIONS,
    CONFERENCES,
    DELIVERIES,
    DELIVERY_ATTEMPTS,
    EVENTS,
    HOLDS,
    INTAKE,
    KEYS,
    PARTIES,
    RJ_CASES,
    TASKS,
    TOKENS,
    Erased,
    cutoff,
    execute,
    fetch_rows,
)
from gateway.db import AsyncSession
from gateway.notifications.models import DeliveryStatus
from gateway.referrals.models import IntakeStatus


def _held_rj_cases() -> Any:
    """RJ cases opened from a task of a victim under a legal hold."""
    held_victims = sa.select(HOLDS.c.victim_id).where(HOLDS.c.lifted_at.is_(None))
    held_tasks = sa.select(TASKS.c.id).where(TASKS.c.victim_id.in_(held_victims))
    return sa.select(RJ_CASES.c.id).where(RJ_CASES.c.task_id.in_(held_tasks))


def _expired_rj_cases(now: datetime, kind: RecordKind) -> Any:
    return sa.select(RJ_CASES.c.id).where(
        RJ_CASES.c.closed_at.is_not(None),
        RJ_CASES.c.closed_at < cutoff(kind, now),
        RJ_CASES.c.id.not_in(_held_rj_cases()),
    )


@dataclass(frozen=True, slots=True)
class Sweep:
    """One kind swept in batches of rows: which rows are due, whose they are, and what happens to them."""

    kind: RecordKind
    subject: str
    table: sa.Table
    due: Callable[[datetime], Any]  # a SELECT of (id, organisation_id), ordered by nothing
    erase: dict[str, Any] | None = None  # None: delete the row


def sweeps() -> tuple[Sweep, ...]:
    return (
        Sweep(
            RecordKind.INTAKE_UNTRIAGED,
            "self_referral",
            INTAKE,
            lambda now: sa.select(INTAKE.c.id, INTAKE.c.hub_organisation_id).where(
                INTAKE.c.status == IntakeStatus.NEW.value,
                INTAKE.c.received_at < cutoff(RecordKind.INTAKE_UNTRIAGED, now),
            ),
        ),
        Sweep(
            RecordKind.INTAKE_CLOSED,
            "self_referral",
            INTAKE,
            lambda now: sa.select(INTAKE.c.id, INTAKE.c.hub_organisation_id).where(
                INTAKE.c.status == IntakeStatus.CLOSED.value,
                INTAKE.c.referral_id.is_(None),
                INTAKE.c.triaged_at < cutoff(RecordKind.INTAKE_CLOSED, now),
            ),
        ),
        Sweep(
            RecordKind.RJ_PARTY,
            "rj_party",
            PARTIES,
            lambda now: (
                sa.select(PARTIES.c.id, RJ_CASES.c.organisation_id)
                .join(RJ_CASES, RJ_CASES.c.id == PARTIES.c.case_id)
                .where(PARTIES.c.given_name != "", PARTIES.c.case_id.in_(_expired_rj_cases(now, RecordKind.RJ_PARTY)))
            ),
            {"given_name": "", "family_name": "", "phone": None, "email": None, "safe_contact_notes": None},
        ),
        Sweep(
            RecordKind.RJ_NOTE,
            "rj_agreement_action",
            ACTIONS,
            lambda now: (
                sa.select(ACTIONS.c.id, RJ_CASES.c.organisation_id)
                .join(RJ_CASES, RJ_CASES.c.id == ACTIONS.c.case_id)
                .where(ACTIONS.c.description != "", ACTIONS.c.case_id.in_(_expired_rj_cases(now, RecordKind.RJ_NOTE)))
            ),
            {"description": ""},
        ),
        Sweep(
            RecordKind.RJ_NOTE,
            "rj_conference",
            CONFERENCES,
            lambda now: (
                sa.select(CONFERENCES.c.id, RJ_CASES.c.organisation_id)
                .join(RJ_CASES, RJ_CASES.c.id == CONFERENCES.c.case_id)
                .where(
                    sa.or_(CONFERENCES.c.venue.is_not(None), CONFERENCES.c.status_reason.is_not(None)),
                    CONFERENCES.c.case_id.in_(_expired_rj_cases(now, RecordKind.RJ_NOTE)),
                )
            ),
            {"venue": None, "venue_key": None, "status_reason": None},
        ),
        Sweep(
            RecordKind.IDEMPOTENCY_KEY,
            "idempotency_key",
            KEYS,
            lambda now: sa.select(KEYS.c.id, KEYS.c.organisation_id).where(
                KEYS.c.created_at < cutoff(RecordKind.IDEMPOTENCY_KEY, now)
            ),
        ),
        Sweep(
            RecordKind.ISSUED_TOKEN,
            "issued_token",
            TOKENS,
            lambda now: sa.select(TOKENS.c.id, TOKENS.c.organisation_id).where(
                TOKENS.c.expires_at < cutoff(RecordKind.ISSUED_TOKEN, now),
                sa.or_(
                    TOKENS.c.refresh_expires_at.is_(None),
                    TOKENS.c.refresh_expires_at < cutoff(RecordKind.ISSUED_TOKEN, now),
                ),
            ),
        ),
    )


def due_events(now: datetime) -> Any:
    pending = sa.exists().where(
        DELIVERIES.c.event_id == EVENTS.c.id, DELIVERIES.c.status == DeliveryStatus.PENDING.value
    )
    return sa.select(EVENTS.c.id, EVENTS.c.organisation_id).where(
        EVENTS.c.created_at < cutoff(RecordKind.OUTBOX_EVENT, now), sa.not_(pending)
    )


async def erase_events(db: AsyncSession, batch: Sequence[Any]) -> list[Erased]:
    """Events with their deliveries and attempts: the delivery log goes with what it delivered."""
    owner = {int(r.id): int(r.organisation_id) for r in batch}
    deliveries = await fetch_rows(
        db, sa.select(DELIVERIES.c.id, DELIVERIES.c.event_id).where(DELIVERIES.c.event_id.in_(list(owner)))
    )
    delivery_owner = {int(d.id): owner[int(d.event_id)] for d in deliveries}
    attempts = await fetch_rows(
        db,
        sa.select(DELIVERY_ATTEMPTS.c.id, DELIVERY_ATTEMPTS.c.delivery_id).where(
            DELIVERY_ATTEMPTS.c.delivery_id.in_(list(delivery_owner))
        ),
    )
    erased = [
        Erased(RecordKind.DELIVERY_LOG, "notification_attempt", int(a.id), delivery_owner[int(a.delivery_id)])
        for a in attempts
    ]
    erased += [Erased(RecordKind.DELIVERY_LOG, "notification_delivery", i, o) for i, o in delivery_owner.items()]
    erased += [Erased(RecordKind.OUTBOX_EVENT, "outbox_event", i, o) for i, o in owner.items()]
    if attempts:
        await execute(db, DELIVERY_ATTEMPTS.delete().where(DELIVERY_ATTEMPTS.c.id.in_([a.id for a in attempts])))
    if delivery_owner:
        await execute(db, DELIVERIES.delete().where(DELIVERIES.c.id.in_(list(delivery_owner))))
    await execute(db, EVENTS.delete().where(EVENTS.c.id.in_(list(owner))))
    return erased
