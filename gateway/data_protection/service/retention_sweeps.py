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
    _actions,
    _conferences,
    _cutoff,
    _deliveries,
    _delivery_attempts,
    _Erased,
    _events,
    _execute,
    _holds,
    _intake,
    _keys,
    _parties,
    _rj_cases,
    _rows,
    _tasks,
    _tokens,
)
from gateway.db import AsyncSession
from gateway.notifications.models import DeliveryStatus
from gateway.referrals.models import IntakeStatus


def _held_rj_cases() -> Any:
    """RJ cases opened from a task of a victim under a legal hold."""
    held_victims = sa.select(_holds.c.victim_id).where(_holds.c.lifted_at.is_(None))
    held_tasks = sa.select(_tasks.c.id).where(_tasks.c.victim_id.in_(held_victims))
    return sa.select(_rj_cases.c.id).where(_rj_cases.c.task_id.in_(held_tasks))


def _expired_rj_cases(now: datetime, kind: RecordKind) -> Any:
    return sa.select(_rj_cases.c.id).where(
        _rj_cases.c.closed_at.is_not(None),
        _rj_cases.c.closed_at < _cutoff(kind, now),
        _rj_cases.c.id.not_in(_held_rj_cases()),
    )


@dataclass(frozen=True, slots=True)
class _Sweep:
    """One kind swept in batches of rows: which rows are due, whose they are, and what happens to them."""

    kind: RecordKind
    subject: str
    table: sa.Table
    due: Callable[[datetime], Any]  # a SELECT of (id, organisation_id), ordered by nothing
    erase: dict[str, Any] | None = None  # None: delete the row


def _sweeps() -> tuple[_Sweep, ...]:
    return (
        _Sweep(
            RecordKind.INTAKE_UNTRIAGED,
            "self_referral",
            _intake,
            lambda now: sa.select(_intake.c.id, _intake.c.hub_organisation_id).where(
                _intake.c.status == IntakeStatus.NEW.value,
                _intake.c.received_at < _cutoff(RecordKind.INTAKE_UNTRIAGED, now),
            ),
        ),
        _Sweep(
            RecordKind.INTAKE_CLOSED,
            "self_referral",
            _intake,
            lambda now: sa.select(_intake.c.id, _intake.c.hub_organisation_id).where(
                _intake.c.status == IntakeStatus.CLOSED.value,
                _intake.c.referral_id.is_(None),
                _intake.c.triaged_at < _cutoff(RecordKind.INTAKE_CLOSED, now),
            ),
        ),
        _Sweep(
            RecordKind.RJ_PARTY,
            "rj_party",
            _parties,
            lambda now: (
                sa.select(_parties.c.id, _rj_cases.c.organisation_id)
                .join(_rj_cases, _rj_cases.c.id == _parties.c.case_id)
                .where(_parties.c.given_name != "", _parties.c.case_id.in_(_expired_rj_cases(now, RecordKind.RJ_PARTY)))
            ),
            {"given_name": "", "family_name": "", "phone": None, "email": None, "safe_contact_notes": None},
        ),
        _Sweep(
            RecordKind.RJ_NOTE,
            "rj_agreement_action",
            _actions,
            lambda now: (
                sa.select(_actions.c.id, _rj_cases.c.organisation_id)
                .join(_rj_cases, _rj_cases.c.id == _actions.c.case_id)
                .where(_actions.c.description != "", _actions.c.case_id.in_(_expired_rj_cases(now, RecordKind.RJ_NOTE)))
            ),
            {"description": ""},
        ),
        _Sweep(
            RecordKind.RJ_NOTE,
            "rj_conference",
            _conferences,
            lambda now: (
                sa.select(_conferences.c.id, _rj_cases.c.organisation_id)
                .join(_rj_cases, _rj_cases.c.id == _conferences.c.case_id)
                .where(
                    sa.or_(_conferences.c.venue.is_not(None), _conferences.c.status_reason.is_not(None)),
                    _conferences.c.case_id.in_(_expired_rj_cases(now, RecordKind.RJ_NOTE)),
                )
            ),
            {"venue": None, "venue_key": None, "status_reason": None},
        ),
        _Sweep(
            RecordKind.IDEMPOTENCY_KEY,
            "idempotency_key",
            _keys,
            lambda now: sa.select(_keys.c.id, _keys.c.organisation_id).where(
                _keys.c.created_at < _cutoff(RecordKind.IDEMPOTENCY_KEY, now)
            ),
        ),
        _Sweep(
            RecordKind.ISSUED_TOKEN,
            "issued_token",
            _tokens,
            lambda now: sa.select(_tokens.c.id, _tokens.c.organisation_id).where(
                _tokens.c.expires_at < _cutoff(RecordKind.ISSUED_TOKEN, now),
                sa.or_(
                    _tokens.c.refresh_expires_at.is_(None),
                    _tokens.c.refresh_expires_at < _cutoff(RecordKind.ISSUED_TOKEN, now),
                ),
            ),
        ),
    )


def _due_events(now: datetime) -> Any:
    pending = sa.exists().where(
        _deliveries.c.event_id == _events.c.id, _deliveries.c.status == DeliveryStatus.PENDING.value
    )
    return sa.select(_events.c.id, _events.c.organisation_id).where(
        _events.c.created_at < _cutoff(RecordKind.OUTBOX_EVENT, now), sa.not_(pending)
    )


async def _erase_events(db: AsyncSession, batch: Sequence[Any]) -> list[_Erased]:
    """Events with their deliveries and attempts: the delivery log goes with what it delivered."""
    owner = {int(r.id): int(r.organisation_id) for r in batch}
    deliveries = await _rows(
        db, sa.select(_deliveries.c.id, _deliveries.c.event_id).where(_deliveries.c.event_id.in_(list(owner)))
    )
    delivery_owner = {int(d.id): owner[int(d.event_id)] for d in deliveries}
    attempts = await _rows(
        db,
        sa.select(_delivery_attempts.c.id, _delivery_attempts.c.delivery_id).where(
            _delivery_attempts.c.delivery_id.in_(list(delivery_owner))
        ),
    )
    erased = [
        _Erased(RecordKind.DELIVERY_LOG, "notification_attempt", int(a.id), delivery_owner[int(a.delivery_id)])
        for a in attempts
    ]
    erased += [_Erased(RecordKind.DELIVERY_LOG, "notification_delivery", i, o) for i, o in delivery_owner.items()]
    erased += [_Erased(RecordKind.OUTBOX_EVENT, "outbox_event", i, o) for i, o in owner.items()]
    if attempts:
        await _execute(db, _delivery_attempts.delete().where(_delivery_attempts.c.id.in_([a.id for a in attempts])))
    if delivery_owner:
        await _execute(db, _deliveries.delete().where(_deliveries.c.id.in_(list(delivery_owner))))
    await _execute(db, _events.delete().where(_events.c.id.in_(list(owner))))
    return erased
