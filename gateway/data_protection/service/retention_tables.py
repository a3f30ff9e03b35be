"""What every part of a retention run shares: the tables it erases from, the record of one erased row (and its
s.62 `erasure` audit row), the cut-off a kind's period gives, and running a statement on the session's connection.
Apart so the victims' erasure and the sweeps of other records use one set of table handles and one audit shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord
from gateway.auth.models import IssuedToken
from gateway.consent.models import Consent
from gateway.data_protection.models import LegalHold, Rectification
from gateway.data_protection.schedule import RecordKind, rule_for
from gateway.data_protection.service.access import PURPOSE_RETENTION
from gateway.db import AsyncSession, UTCDateTime
from gateway.events.models import OutboxEvent
from gateway.idempotency.models import IdempotencyRecord
from gateway.notifications.models import NotificationAttempt, NotificationDelivery
from gateway.referrals.models import Case, ContactAttempt, Referral, ReferralTask, SelfReferral
from gateway.restorative_justice.models import AgreementAction, Conference, Party, RjCase
from gateway.victims.models import Victim


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


VICTIMS = _table(Victim)
TASKS = _table(ReferralTask)
CASES = _table(Case)
CONSENTS = _table(Consent)
ATTEMPTS = _table(ContactAttempt)
REFERRALS = _table(Referral)
INTAKE = _table(SelfReferral)
HOLDS = _table(LegalHold)
RECTIFICATIONS = _table(Rectification)
RJ_CASES = _table(RjCase)
PARTIES = _table(Party)
ACTIONS = _table(AgreementAction)
CONFERENCES = _table(Conference)
EVENTS = _table(OutboxEvent)
DELIVERIES = _table(NotificationDelivery)
DELIVERY_ATTEMPTS = _table(NotificationAttempt)
KEYS = _table(IdempotencyRecord)
TOKENS = _table(IssuedToken)

UTC_DATETIME = UTCDateTime()


@dataclass(frozen=True, slots=True)
class Erased:
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


def cutoff(kind: RecordKind, now: datetime) -> ColumnElement[Any]:
    keep_for = rule_for(kind).keep_for
    assert keep_for is not None
    return sa.literal(now - keep_for, UTC_DATETIME)


async def fetch_rows(db: AsyncSession, statement: Any) -> Sequence[Any]:
    return (await (await db.connection()).execute(statement)).all()


async def execute(db: AsyncSession, statement: Any) -> None:
    await (await db.connection()).execute(statement)
