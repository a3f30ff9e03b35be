"""Erasure by the retention schedule: what is past its time goes, each record with one s.62 `erasure` row.

Victims are erased whole, a batch of them per transaction (one each with `victims_per_transaction=1`), each checked
again under its row lock inside it (a legal hold placed or a task reopened meanwhile stops it), so a run killed at
any moment leaves each victim either untouched or wholly erased, and the next run carries on where it stopped.
Statements work on the whole batch (an IN list of its victims), so a million tasks take minutes, not hours.
Erasing only ever removes what is still there (a name not yet blanked, a note not yet cleared, a row not yet
deleted), so a second run finds nothing more and logs nothing more. Everything monitoring counts stays: the task's
status, provider, consent link and dates, the victim's equality answers as the codes monitoring reads, the
statistics consent, and the outcome records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.models import IssuedToken
from gateway.consent.models import Consent
from gateway.data_protection.models import LegalHold, Rectification
from gateway.data_protection.schedule import Action, RecordKind, rule_for
from gateway.data_protection.service.access import PURPOSE_RETENTION, retention_actor
from gateway.db import AsyncSession, UTCDateTime
from gateway.events.models import OutboxEvent
from gateway.idempotency.models import IdempotencyRecord
from gateway.monitoring.service.cells import ETHNIC_GROUPS, UNRECOGNISED
from gateway.notifications.models import DeliveryStatus, NotificationAttempt, NotificationDelivery
from gateway.referrals.models import (
    OPEN_STATUSES,
    Case,
    ContactAttempt,
    IntakeStatus,
    Referral,
    ReferralTask,
    SelfReferral,
)
from gateway.restorative_justice.models import AgreementAction, Conference, Party, RjCase
from gateway.victims.models import AgeBand, Disability, Sex, Victim

__all__ = ["ERASED_KINDS", "RetentionReport", "run_retention"]


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


_victims = _table(Victim)
_tasks = _table(ReferralTask)
_cases = _table(Case)
_consents = _table(Consent)
_attempts = _table(ContactAttempt)
_referrals = _table(Referral)
_intake = _table(SelfReferral)
_holds = _table(LegalHold)
_rectifications = _table(Rectification)
_rj_cases = _table(RjCase)
_parties = _table(Party)
_actions = _table(AgreementAction)
_conferences = _table(Conference)
_events = _table(OutboxEvent)
_deliveries = _table(NotificationDelivery)
_delivery_attempts = _table(NotificationAttempt)
_keys = _table(IdempotencyRecord)
_tokens = _table(IssuedToken)

UTC_DATETIME = UTCDateTime()
BATCH = 500
# Whole victims per transaction: each is erased entirely or not at all; a few hundred keep every lock short.
VICTIMS_PER_TRANSACTION = 200
# The order a victim's records go in; the identity last, so a victim whose name is blank has nothing left to erase.
VICTIM_KINDS = (
    RecordKind.CONTACT_ATTEMPT,
    RecordKind.TASK,
    RecordKind.CASE,
    RecordKind.CONSENT,
    RecordKind.INTAKE_REFERRED,
    RecordKind.OFFICER_NOTE,
    RecordKind.VICTIM_IDENTITY,
)
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


@dataclass(frozen=True, slots=True)
class _Erased:
    kind: RecordKind
    subject: str
    row_id: int
    organisation_id: int
    victim_id: int | None = None

    def audit(self) -> AuditRecord:
        return AuditRecord(
            category=AuditCategory.ERASURE,
            action=f"erase.{self.kind.value}",
            purpose=f"{PURPOSE_RETENTION}: {self.kind.value}",
            victim_id=self.victim_id,
            subject_ids={"kind": self.kind.value, self.subject: self.row_id},
        )


def _cutoff(kind: RecordKind, now: datetime) -> ColumnElement[Any]:
    keep_for = rule_for(kind).keep_for
    assert keep_for is not None
    return sa.literal(now - keep_for, UTC_DATETIME)


async def _rows(db: AsyncSession, statement: Any) -> Sequence[Any]:
    return (await (await db.connection()).execute(statement)).all()


async def _execute(db: AsyncSession, statement: Any) -> None:
    await (await db.connection()).execute(statement)


# -- victims ---------------------------------------------------------------------------------------------------


def _victim_standing(now: datetime) -> Any:
    """Per victim not yet erased: whether it is held and when its last task closed, if none is open."""
    anchor = sa.type_coerce(
        sa.func.coalesce(sa.func.max(sa.func.coalesce(_tasks.c.closed_at, _tasks.c.updated_at)), _victims.c.updated_at),
        UTC_DATETIME,
    )
    still_open = sa.func.coalesce(
        sa.func.sum(sa.case((_tasks.c.status.in_([s.value for s in OPEN_STATUSES]), 1), else_=0)), 0
    )
    held = sa.exists().where(_holds.c.victim_id == _victims.c.id, _holds.c.lifted_at.is_(None))
    # Past the shortest period of any victim kind: the candidates; each kind is checked against its own.
    soonest = max(_cutoff_value(k, now) for k in VICTIM_KINDS)
    return (
        sa.select(_victims.c.id, _victims.c.hub_organisation_id, held.label("held"), anchor.label("anchor"))
        .select_from(_victims.outerjoin(_tasks, _tasks.c.victim_id == _victims.c.id))
        .where(_victims.c.given_name != "")
        .group_by(_victims.c.id, _victims.c.hub_organisation_id, _victims.c.updated_at)
        .having(still_open == 0, anchor < sa.literal(soonest, UTC_DATETIME))
    )


def _cutoff_value(kind: RecordKind, now: datetime) -> datetime:
    keep_for = rule_for(kind).keep_for
    assert keep_for is not None
    return now - keep_for


def _coded(column: Any, codes: Sequence[str]) -> Any:
    """An equality answer as the code monitoring reads it; anything else, which could be free text, goes."""
    return sa.case((column.is_(None), None), (column.in_(list(codes)), column), else_=UNRECOGNISED)


def _anonymous_victim() -> dict[str, Any]:
    """Every personal field blank; the equality answers as the codes monitoring counts, computed in the UPDATE."""
    v = _victims.c
    return {
        "given_name": "",
        "family_name": "",
        "date_of_birth": None,
        "address": None,
        "postcode": None,
        "phone": None,
        "email": None,
        "guardian_name": None,
        "guardian_relationship": None,
        "guardian_phone": None,
        "guardian_email": None,
        "safe_phone": None,
        "safe_times": None,
        "voicemail_safe": False,
        "letters_safe": False,
        "perpetrator_shares_address": False,
        "language": None,
        "interpreter_needed": False,
        "equality_age_band": _coded(v.equality_age_band, [a.value for a in AgeBand]),
        "equality_sex": _coded(v.equality_sex, [s.value for s in Sex]),
        "equality_ethnicity": _coded(sa.func.lower(v.equality_ethnicity), ETHNIC_GROUPS),
        "equality_disability": _coded(v.equality_disability, [d.value for d in Disability]),
    }


@dataclass(frozen=True, slots=True)
class _Part:
    """Rows of some victims' in one table: a SELECT of (id, victim id) for them, and what erasing does to them."""

    subject: str
    table: sa.Table
    rows: Callable[[Sequence[int]], Any]
    erase: dict[str, Any] | None  # None: delete


def _owned(table: sa.Table, *extra: ColumnElement[bool]) -> Callable[[Sequence[int]], Any]:
    return lambda victims: sa.select(table.c.id, table.c.victim_id).where(table.c.victim_id.in_(victims), *extra)


_VICTIM_PARTS: dict[RecordKind, tuple[_Part, ...]] = {
    RecordKind.CONTACT_ATTEMPT: (
        _Part(
            "contact_attempt",
            _attempts,
            lambda victims: (
                sa.select(_attempts.c.id, _tasks.c.victim_id)
                .join(_tasks, _tasks.c.id == _attempts.c.task_id)
                .where(_tasks.c.victim_id.in_(victims))
            ),
            None,
        ),
    ),
    RecordKind.TASK: (
        _Part(
            "task",
            _tasks,
            _owned(_tasks, _tasks.c.override_justification.is_not(None)),
            {"override_justification": None},
        ),
    ),
    RecordKind.CASE: (
        _Part(
            "case",
            _cases,
            _owned(_cases, sa.or_(_cases.c.crime_reference.is_not(None), _cases.c.assessment_notes.is_not(None))),
            {"crime_reference": None, "assessment_notes": None},
        ),
    ),
    RecordKind.CONSENT: (
        _Part(
            "consent",
            _consents,
            _owned(
                _consents,
                sa.or_(_consents.c.withheld_information.is_not(None), _consents.c.withheld_reason.is_not(None)),
            ),
            {"withheld_information": None, "withheld_reason": None},
        ),
    ),
    RecordKind.INTAKE_REFERRED: (
        _Part(
            "self_referral",
            _intake,
            lambda victims: (
                sa.select(_intake.c.id, _referrals.c.victim_id)
                .join(_referrals, _referrals.c.id == _intake.c.referral_id)
                .where(_referrals.c.victim_id.in_(victims))
            ),
            None,
        ),
    ),
    RecordKind.OFFICER_NOTE: (
        _Part(
            "rectification",
            _rectifications,
            _owned(_rectifications, _rectifications.c.reason.is_not(None)),
            {"reason": None},
        ),
        # A standing hold stops the whole erasure; only the reasons of lifted holds reach here.
        _Part(
            "legal_hold",
            _holds,
            _owned(_holds, _holds.c.lifted_at.is_not(None), _holds.c.reason.is_not(None)),
            {"reason": None},
        ),
    ),
    RecordKind.VICTIM_IDENTITY: (
        _Part(
            "victim",
            _victims,
            lambda victims: sa.select(_victims.c.id, _victims.c.id.label("victim_id")).where(
                _victims.c.id.in_(victims), _victims.c.given_name != ""
            ),
            _anonymous_victim(),
        ),
    ),
}


async def _erase_part(db: AsyncSession, part: _Part, victims: Sequence[int]) -> list[tuple[int, int]]:
    found = [(int(r[0]), int(r[1])) for r in await _rows(db, part.rows(victims))]
    if found:
        chosen = part.table.c.id.in_([row_id for row_id, _ in found])
        if part.erase is None:
            await _execute(db, part.table.delete().where(chosen))
        else:
            await _execute(db, part.table.update().where(chosen).values(**part.erase))
    return found


async def _erase_victims(db: AsyncSession, victim_ids: Sequence[int], now: datetime) -> tuple[list[_Erased], int]:
    """Everything of these victims' that is past its time, after checking again under their row locks that it is.

    Returns what was erased and how many victims it touched. A victim is erased whole within this transaction or
    not at all, so the transaction is the unit a killed run can stop between.
    """
    locked = sa.select(_victims.c.id).where(_victims.c.id.in_(victim_ids)).order_by(_victims.c.id).with_for_update()
    await _rows(db, locked)
    standing = await _rows(db, _victim_standing(now).where(_victims.c.id.in_(victim_ids)))
    due = [row for row in standing if not row.held]
    organisation_of = {int(row.id): int(row.hub_organisation_id) for row in due}
    erased: list[_Erased] = []
    for kind in VICTIM_KINDS:
        cutoff = _cutoff_value(kind, now)
        victims = [int(row.id) for row in due if row.anchor < cutoff]
        if not victims:
            continue
        for part in _VICTIM_PARTS[kind]:
            erased += [
                _Erased(kind, part.subject, row_id, organisation_of[victim_id], victim_id)
                for row_id, victim_id in await _erase_part(db, part, victims)
            ]
    return erased, len({item.victim_id for item in erased})


# -- records not tied to one victim -----------------------------------------------------------------------------


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


# -- the run ------------------------------------------------------------------------------------------------------


async def _finish(db: AsyncSession, erased: list[_Erased], report: RetentionReport) -> None:
    """Log one erasure row per record, grouped by the organisation acting, then commit (or, dry, roll back)."""
    by_organisation: dict[int, list[_Erased]] = {}
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
        standing = await _rows(db, _victim_standing(now).order_by(_victims.c.id))
    report.held = sum(1 for row in standing if row.held)
    candidates = [int(row.id) for row in standing if not row.held]
    for start in range(0, len(candidates), victims_per_transaction):
        batch = candidates[start : start + victims_per_transaction]
        async with sessions() as db:
            erased, touched = await _erase_victims(db, batch, now)
            await _finish(db, erased, report)
        report.victims += touched
        if erased:
            say(f"victims {batch[0]} to {batch[-1]}: {len(erased)} records")
    for sweep in _sweeps():
        await _sweep(sessions, sweep, now, report, say)
    await _sweep_events(sessions, now, report, say)
    return report


async def _sweep(
    sessions: async_sessionmaker[AsyncSession], sweep: _Sweep, now: datetime, report: RetentionReport, say: Progress
) -> None:
    last = 0
    while True:
        async with sessions() as db:
            statement = sweep.due(now).where(sweep.table.c.id > last).order_by(sweep.table.c.id).limit(BATCH)
            if sweep.erase is not None:
                statement = statement.with_for_update(of=sweep.table)
            batch = await _rows(db, statement)
            if not batch:
                return
            ids = [int(r[0]) for r in batch]
            if sweep.erase is None:
                await _execute(db, sweep.table.delete().where(sweep.table.c.id.in_(ids)))
            else:
                await _execute(db, sweep.table.update().where(sweep.table.c.id.in_(ids)).values(**sweep.erase))
            erased = [_Erased(sweep.kind, sweep.subject, int(r[0]), int(r[1])) for r in batch]
            await _finish(db, erased, report)
        last = ids[-1]
        say(f"{sweep.kind.value}: {len(erased)} records")


async def _sweep_events(
    sessions: async_sessionmaker[AsyncSession], now: datetime, report: RetentionReport, say: Progress
) -> None:
    last = 0
    while True:
        async with sessions() as db:
            batch = await _rows(db, _due_events(now).where(_events.c.id > last).order_by(_events.c.id).limit(BATCH))
            if not batch:
                return
            erased = await _erase_events(db, batch)
            await _finish(db, erased, report)
        last = int(batch[-1].id)
        say(f"{RecordKind.OUTBOX_EVENT.value}: {len(batch)} events")
