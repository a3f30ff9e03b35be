"""Rules for the s.62 log: append in the caller's transaction, verify the chain, read a victim's trail.

Writing and sealing are two steps on PostgreSQL. A writer inserts its rows unsealed, in the same transaction as the
read or change they record: no sequence, no hashes, but the writing transaction's id, taken by the INSERT itself
(`TRANSACTION_ID_SQL`). It takes no lock and reads nothing of the chain, so concurrent requests, workers and machines
never wait for each other. gateway/audit/sealer.py places the rows in the chain shortly after their transactions end.

SQLite allows one writer at a time, so there the chain is extended in the writing transaction as it always was:
rows go in sealed (sequence, hashes and sealed_at set), and no sealer is needed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import col, select

from gateway.audit.models import GENESIS_HASH, AuditCategory, AuditEntry
from gateway.auth.principal import Principal
from gateway.clock import as_utc, utc_now
from gateway.db import AsyncSession

PUBLIC_ACTOR = "public:self-referral"
# Session.info key for read-side rows waiting to be written at the next append or at commit.
QUEUED_AUDIT_KEY = "gateway.audit.queued"

# What a writer names to insert an unsealed row on PostgreSQL, for code that writes rows in its own SQL (a compiled
# read inserting a page's rows in the statement that reads it). Every other column is null until sealed.
UNSEALED_COLUMNS = (
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
    "transaction_id",
)
# The writing top-level transaction's id, evaluated by the INSERT itself rather than supplied from Python: the sealer's
# horizon is only sound for the id PostgreSQL really gave the transaction (a wrong one shows in verify's order check).
TRANSACTION_ID_SQL = "pg_current_xact_id()::text::bigint"

AUDIT_LOG: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]
# Chain order for readers: sealed rows by sequence, then the unsealed tail in the order the sealer will give it.
TRAIL_ORDER = (
    col(AuditEntry.sequence).asc().nulls_last(),
    col(AuditEntry.transaction_id).asc().nulls_last(),
    col(AuditEntry.id).asc(),
)


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


# json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True), without building an encoder per row.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def hash_row_values(values: Mapping[str, Any]) -> str:
    """sha256 over a canonical JSON of every field but the id and the hash itself; the previous hash is one of them.

    The writing transaction's id is hashed when the row has one (PostgreSQL), so the chain's order is covered too;
    rows without one (SQLite, and rows written before sealing existed) hash exactly as they always did.
    """
    body = {name: values[name] for name in HASHED_FIELDS}
    body["occurred_at"] = _canonical_time(values["occurred_at"])
    if values.get("transaction_id") is not None:
        body["transaction_id"] = int(values["transaction_id"])
    return hashlib.sha256(_CANONICAL_JSON.encode(body).encode("ascii")).hexdigest()


def _unsealed_rows(
    batches: Sequence[tuple[Principal | None, Sequence[AuditRecord]]], moment: datetime
) -> list[dict[str, Any]]:
    return [
        {
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
        }
        for actor, records in batches
        for record in records
    ]


def chain_head(connection: sa.Connection) -> tuple[int, str]:
    """The last sealed row's sequence and hash, or (0, the genesis hash) for an empty chain."""
    head = connection.execute(
        sa.select(AUDIT_LOG.c.sequence, AUDIT_LOG.c.row_hash)
        .where(AUDIT_LOG.c.sequence.is_not(None))
        .order_by(AUDIT_LOG.c.sequence.desc())
        .limit(1)
    ).first()
    return (int(head.sequence), str(head.row_hash)) if head is not None else (0, GENESIS_HASH)


def seal_values(rows: Sequence[dict[str, Any]], head: tuple[int, str], sealed_at: datetime) -> None:
    """Give the rows, in chain order, their sequence, previous hash, hash and sealing time, following `head`."""
    sequence, previous_hash = head
    for row in rows:
        sequence += 1
        row["sequence"] = sequence
        row["previous_hash"] = previous_hash
        row["row_hash"] = previous_hash = hash_row_values(row)
        row["sealed_at"] = sealed_at


def _chain_rows(
    session: Session, batches: Sequence[tuple[Principal | None, Sequence[AuditRecord]]]
) -> list[dict[str, Any]]:
    """Insert the records' rows in the session's own transaction: unsealed on PostgreSQL, sealed on SQLite."""
    session.flush()  # the audited change reaches the database before its log row
    moment = utc_now()
    rows = _unsealed_rows(batches, moment)
    if not rows:
        return rows
    connection = session.connection()
    # One Core executemany, not one INSERT per row nor the ORM's bulk path (which builds per-row state only to
    # discard it): a page of 50 provider reads costs little more than a page of 5.
    if connection.dialect.name == "postgresql":
        # No lock and no read of the chain: the sealer orders rows by this id once the transaction has ended.
        connection.execute(AUDIT_LOG.insert().values(transaction_id=sa.literal_column(TRANSACTION_ID_SQL)), rows)
        return rows
    # SQLite allows one writer at a time, so the head cannot move under this transaction; the unique sequence
    # would refuse a fork all the same.
    seal_values(rows, chain_head(connection), moment)
    connection.execute(AUDIT_LOG.insert(), rows)
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

    For reads of pages of personal data: a request's rows go in as one batch, just before its commit. A transaction
    that never commits (so never answers with the data) writes nothing, exactly as if the rows had been appended
    and rolled back.
    """
    if records:
        if not db.in_transaction():
            # Begun (no I/O) so that a rollback before anything else runs still ends it and drops the rows.
            db.sync_session.begin()
        db.info.setdefault(QUEUED_AUDIT_KEY, []).append((actor, tuple(records)))


@event.listens_for(Session, "before_commit")
def _write_queued_audit(session: Session) -> None:
    queued = _take_queued(session)
    if queued:
        _chain_rows(session, queued)


@event.listens_for(Session, "after_soft_rollback")
def _drop_queued_audit(session: Session, previous_transaction: SessionTransaction) -> None:
    # Any rollback of the whole transaction, even one that never reached the database; a savepoint's keeps them.
    if not previous_transaction.nested and previous_transaction.parent is None:
        session.info.pop(QUEUED_AUDIT_KEY, None)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What `gateway audit verify` found: where the sealed chain breaks, if it does, and the unsealed tail."""

    broken_at: int | None
    sealed: int
    unsealed: int
    oldest_unsealed_at: datetime | None
    longest_sealing_delay: timedelta | None


def _out_of_order(previous: tuple[int, int] | None, values: Mapping[str, Any]) -> tuple[bool, tuple[int, int] | None]:
    """Whether a sealed row breaks ascending (transaction_id, id) order, and the key the next row must exceed.

    Rows without a transaction id (SQLite, or sealed before sealing moved off the request path) may only come first.
    """
    if values["transaction_id"] is None:
        return previous is not None, previous
    key = (int(values["transaction_id"]), int(values["id"]))
    return previous is not None and key <= previous, key


async def verify_report(db: AsyncSession, *, batch_size: int = 1000) -> ChainReport:
    """Check the sealed chain row by row (hash, link, gap-free position, order) and measure the unsealed tail."""
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    order_key: tuple[int, int] | None = None
    longest: timedelta | None = None
    broken_at: int | None = None
    connection = await db.connection()
    while broken_at is None:
        # Plain rows, not ORM entities: the caller's session keeps no identity map of a long chain.
        batch = (
            await connection.execute(
                sa.select(AUDIT_LOG)
                .where(AUDIT_LOG.c.sequence >= expected_sequence)
                .order_by(AUDIT_LOG.c.sequence)
                .limit(batch_size)
            )
        ).all()
        if not batch:
            break
        for row in batch:
            values = dict(row._mapping)
            misplaced, order_key = _out_of_order(order_key, values)
            if (
                misplaced
                or values["sequence"] != expected_sequence
                or values["previous_hash"] != expected_previous
                or values["row_hash"] != hash_row_values(values)
            ):
                broken_at = int(values["id"])
                break
            if values["sealed_at"] is not None:
                delay = as_utc(values["sealed_at"]) - as_utc(values["occurred_at"])
                longest = delay if longest is None else max(longest, delay)
            expected_previous = values["row_hash"]
            expected_sequence += 1
    tail = (
        await connection.execute(
            sa.select(sa.func.count(), sa.func.min(AUDIT_LOG.c.occurred_at)).where(AUDIT_LOG.c.sequence.is_(None))
        )
    ).one()
    oldest = tail[1]
    return ChainReport(
        broken_at=broken_at,
        sealed=expected_sequence - 1,
        unsealed=int(tail[0]),
        oldest_unsealed_at=as_utc(oldest) if oldest is not None else None,
        longest_sealing_delay=longest,
    )


async def verify_chain(db: AsyncSession, *, batch_size: int = 1000) -> int | None:
    """The id of the first sealed row whose hash, link, position or order is wrong, or None when the chain holds."""
    return (await verify_report(db, batch_size=batch_size)).broken_at


async def audit_trail(*, db: AsyncSession, victim_id: int) -> list[AuditEntry]:
    """Every log row about one victim, in chain order, then the rows not yet sealed in the order they will take.

    The caller has checked the reader may see that victim's trail.
    """
    found = await db.exec(select(AuditEntry).where(AuditEntry.victim_id == victim_id).order_by(*TRAIL_ORDER))
    return list(found.all())
