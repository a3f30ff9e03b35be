"""Rules for the s.62 log: append in the caller's transaction, verify the chain, read a victim's trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import col, select

from gateway.audit.models import GENESIS_HASH, AuditCategory, AuditEntry
from gateway.auth.principal import Principal
from gateway.clock import utc_now
from gateway.db import AsyncSession

# Any constant works; it only has to be the same for every writer of the chain.
AUDIT_CHAIN_LOCK_KEY = 0x6175_6469_7430  # "audit0"
PUBLIC_ACTOR = "public:self-referral"
# Session.info key for read-side rows waiting to join the chain at the next append or at commit.
QUEUED_AUDIT_KEY = "gateway.audit.queued"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What one log row says, before it is placed in the chain."""

    category: AuditCategory
    action: str
    purpose: str
    victim_id: int | None = None
    subject_ids: dict[str, Any] = field(default_factory=dict)
    recipient_organisation_id: int | None = None
    safeguarding_override: bool = False


def _canonical_time(moment: datetime) -> str:
    # SQLite hands back naive datetimes; both databases keep microseconds, so this text is stable.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


HASHED_FIELDS = (
    "sequence",
    "occurred_at",
    "category",
    "action",
    "purpose",
    "actor_organisation_id",
    "actor",
    "victim_id",
    "subject_ids",
    "recipient_organisation_id",
    "safeguarding_override",
    "previous_hash",
)


def hash_row_values(values: Mapping[str, Any]) -> str:
    """sha256 over a canonical JSON of every field but the id and the hash itself; the previous hash is one of them."""
    body = {name: values[name] for name in HASHED_FIELDS}
    body["occurred_at"] = _canonical_time(values["occurred_at"])
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _chain_rows(
    session: Session, batches: Sequence[tuple[Principal | None, Sequence[AuditRecord]]]
) -> list[dict[str, Any]]:
    """Place the records at the head of the chain and insert them; runs in the session's own transaction."""
    session.flush()  # the audited change reaches the database before its log row
    if session.connection().dialect.name == "postgresql":
        # Held until the transaction ends, so appends from concurrent requests queue instead of forking.
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_CHAIN_LOCK_KEY)))
    # SQLite allows one writer at a time; the unique sequence refuses any fork that slipped through.
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    head = session.execute(
        sa.select(table.c.sequence, table.c.row_hash).order_by(table.c.sequence.desc()).limit(1)
    ).first()
    sequence = int(head.sequence) if head is not None else 0
    previous_hash = str(head.row_hash) if head is not None else GENESIS_HASH
    moment = utc_now()
    rows: list[dict[str, Any]] = []
    for actor, records in batches:
        for record in records:
            sequence += 1
            row: dict[str, Any] = {
                "sequence": sequence,
                "occurred_at": moment,
                "category": record.category.value,
                "action": record.action,
                "purpose": record.purpose,
                "actor_organisation_id": actor.organisation_id if actor is not None else None,
                "actor": actor.actor_label if actor is not None else PUBLIC_ACTOR,
                "victim_id": record.victim_id,
                "subject_ids": dict(record.subject_ids),
                "recipient_organisation_id": record.recipient_organisation_id,
                "safeguarding_override": record.safeguarding_override,
                "previous_hash": previous_hash,
            }
            row["row_hash"] = previous_hash = hash_row_values(row)
            rows.append(row)
    if rows:
        # One Core executemany, not one INSERT per row nor the ORM's bulk path (which builds per-row state only to
        # discard it): a page of 50 provider reads costs little more than a page of 5.
        session.connection().execute(table.insert(), rows)
    return rows


def _take_queued(session: Session) -> list[tuple[Principal | None, Sequence[AuditRecord]]]:
    queued: list[tuple[Principal | None, Sequence[AuditRecord]]] = session.info.pop(QUEUED_AUDIT_KEY, [])
    return queued


async def append_audit(
    *,
    db: AsyncSession,
    actor: Principal | None,
    records: Sequence[AuditRecord],
) -> list[AuditEntry]:
    """Append rows to the chain in the caller's transaction; a None actor is the public (self-referral).

    Rows queued earlier in the transaction are written first, so the chain keeps the order things happened in.
    The rows are returned as written, without their ids.
    """
    if not records:
        return []

    def write(session: Session) -> list[dict[str, Any]]:
        return _chain_rows(session, [*_take_queued(session), (actor, records)])

    rows = await db.run_sync(write)
    return [AuditEntry(**row) for row in rows[len(rows) - len(records) :]]


def queue_audit(*, db: AsyncSession, actor: Principal | None, records: Sequence[AuditRecord]) -> None:
    """Log reads in the caller's transaction, joining the chain at the next append or when it commits.

    For reads of pages of personal data: the chain's lock is then held only for the commit, not for the rest of
    the request, and a request's rows go in as one batch. A transaction that never commits (so never answers
    with the data) writes nothing, exactly as if the rows had been appended and rolled back.
    """
    if records:
        db.info.setdefault(QUEUED_AUDIT_KEY, []).append((actor, tuple(records)))


@event.listens_for(Session, "before_commit")
def _write_queued_audit(session: Session) -> None:
    queued = _take_queued(session)
    if queued:
        _chain_rows(session, queued)


@event.listens_for(Session, "after_rollback")
def _drop_queued_audit(session: Session) -> None:
    session.info.pop(QUEUED_AUDIT_KEY, None)


async def verify_chain(db: AsyncSession, *, batch_size: int = 1000) -> int | None:
    """The id of the first row whose hash, link or position is wrong, or None when the chain holds."""
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    last_sequence = 0
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    connection = await db.connection()
    while True:
        # Plain rows, not ORM entities: the caller's session keeps no identity map of a long chain.
        batch = (
            await connection.execute(
                sa.select(table).where(table.c.sequence > last_sequence).order_by(table.c.sequence).limit(batch_size)
            )
        ).all()
        if not batch:
            return None
        for row in batch:
            values = dict(row._mapping)
            if (
                values["sequence"] != expected_sequence
                or values["previous_hash"] != expected_previous
                or values["row_hash"] != hash_row_values(values)
            ):
                return int(values["id"])
            expected_previous = values["row_hash"]
            expected_sequence += 1
            last_sequence = values["sequence"]


async def audit_trail(*, db: AsyncSession, victim_id: int) -> list[AuditEntry]:
    """Every log row about one victim, in chain order; the caller has checked the reader may see that victim's trail."""
    found = await db.exec(
        select(AuditEntry).where(AuditEntry.victim_id == victim_id).order_by(col(AuditEntry.sequence))
    )
    return list(found.all())
