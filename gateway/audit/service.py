"""Rules for the s.62 log: append in the caller's transaction, verify the chain, read a victim's trail.

Writing and sealing are two steps on PostgreSQL. A writer inserts its rows unsealed, in the same transaction as the
read or change they record: no sequence, no hashes, but the writing transaction's id, taken by the INSERT itself
(`TRANSACTION_ID_SQL`). It takes no lock and reads nothing of the chain, so concurrent requests, workers and machines
never wait for each other. gateway/audit/sealer.py covers the rows by seals (`audit_seals`), a batch at a time,
shortly after their transactions end; the rows themselves are never written again.

SQLite allows one writer at a time, so there the chain is extended in the writing transaction as it always was:
rows go in sealed (sequence, hashes and sealed_at set), and no sealer is needed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import col, select

from gateway.audit.models import GENESIS_HASH, AuditCategory, AuditEntry, AuditSeal
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
DIGEST_BYTES = 32


def row_digest_sql(alias: str) -> str:
    """PostgreSQL's sha256 of one audit row as it holds it: every field, the id and transaction id among them.

    The sealer and the verifier both use this expression, so a seal and its check cannot drift apart. Each text is
    quoted (quote_literal escapes quotes and backslashes; quote_nullable writes NULL bare), so no change of one
    field can be passed off as a change of its neighbour, and the time is seconds since the epoch, which no session
    setting changes. About 3 microseconds a row, 40% less than building jsonb.
    """
    parts = (
        "{a}.id",
        "{a}.transaction_id",
        "extract(epoch FROM {a}.occurred_at)",
        "quote_literal({a}.category)",
        "quote_literal({a}.action)",
        "quote_literal({a}.purpose)",
        "quote_nullable({a}.actor_organisation_id)",
        "quote_literal({a}.actor)",
        "quote_nullable({a}.victim_id)",
        "quote_literal({a}.subject_ids::text)",
        "quote_nullable({a}.recipient_organisation_id)",
        "{a}.safeguarding_override",
    )
    fields = ", ".join(part.format(a=alias) for part in parts)
    return f"sha256(convert_to(concat_ws(',', {fields}), 'UTF8'))"


AUDIT_LOG: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]
AUDIT_SEALS: sa.Table = AuditSeal.__table__  # type: ignore[attr-defined]
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


@dataclass(frozen=True, slots=True)
class SealHead:
    """Where the next seal goes: its predecessor's place and hash, and the last row (transaction id, id) covered."""

    sequence: int
    seal_hash: str
    after: tuple[int, int]


# Before the first seal, every row without a sequence is still to be sealed: transaction ids and ids are positive.
BEFORE_ANY_ROW = (-1, -1)


def seal_head(connection: sa.Connection) -> SealHead:
    """The last seal, or before the first one the chain's per-row head (rows chained one by one before seals)."""
    last = connection.execute(
        sa.select(
            AUDIT_SEALS.c.sequence,
            AUDIT_SEALS.c.seal_hash,
            AUDIT_SEALS.c.last_transaction_id,
            AUDIT_SEALS.c.last_audit_id,
        )
        .order_by(AUDIT_SEALS.c.sequence.desc())
        .limit(1)
    ).first()
    if last is None:
        return SealHead(sequence=0, seal_hash=chain_head(connection)[1], after=BEFORE_ANY_ROW)
    return SealHead(
        sequence=int(last.sequence),
        seal_hash=str(last.seal_hash),
        after=(int(last.last_transaction_id), int(last.last_audit_id)),
    )


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
    """What `gateway audit verify` found: where the chain breaks, if it does, and the unsealed tail."""

    broken_at: int | None
    sealed: int
    unsealed: int
    oldest_unsealed_at: datetime | None
    longest_sealing_delay: timedelta | None
    seals: int = 0


def _out_of_order(previous: tuple[int, int] | None, values: Mapping[str, Any]) -> tuple[bool, tuple[int, int] | None]:
    """Whether a sealed row breaks ascending (transaction_id, id) order, and the key the next row must exceed.

    Rows without a transaction id (SQLite, or sealed before sealing moved off the request path) may only come first.
    """
    if values["transaction_id"] is None:
        return previous is not None, previous
    key = (int(values["transaction_id"]), int(values["id"]))
    return previous is not None and key <= previous, key


def _longer(longest: timedelta | None, delay: timedelta) -> timedelta:
    return delay if longest is None else max(longest, delay)


@dataclass(slots=True)
class _Walk:
    """The verifier's position: the next place and hash the chain must show, and what it has counted."""

    sequence: int = 1
    previous_hash: str = GENESIS_HASH
    sealed: int = 0
    seals: int = 0
    longest: timedelta | None = None
    broken_at: int | None = None


async def _verify_rows(connection: AsyncConnection, walk: _Walk, batch_size: int) -> None:
    """The rows chained one by one (all of SQLite's; PostgreSQL's from before seals): hash, link, place, order."""
    order_key: tuple[int, int] | None = None
    while walk.broken_at is None:
        # Plain rows, not ORM entities: the caller's session keeps no identity map of a long chain.
        batch = (
            await connection.execute(
                sa.select(AUDIT_LOG)
                .where(AUDIT_LOG.c.sequence >= walk.sequence)
                .order_by(AUDIT_LOG.c.sequence)
                .limit(batch_size)
            )
        ).all()
        if not batch:
            return
        for row in batch:
            values = dict(row._mapping)
            misplaced, order_key = _out_of_order(order_key, values)
            if (
                misplaced
                or values["sequence"] != walk.sequence
                or values["previous_hash"] != walk.previous_hash
                or values["row_hash"] != hash_row_values(values)
            ):
                walk.broken_at = int(values["id"])
                return
            if values["sealed_at"] is not None:
                walk.longest = _longer(walk.longest, as_utc(values["sealed_at"]) - as_utc(values["occurred_at"]))
            walk.previous_hash = values["row_hash"]
            walk.sequence += 1
            walk.sealed += 1


# The f-string puts in a fixed expression of this code, never a value.
ROWS_TO_SEAL = sa.text(
    f"SELECT a.id, a.transaction_id, a.occurred_at, {row_digest_sql('a')} AS digest "  # noqa: S608
    "FROM audit_log AS a WHERE a.sequence IS NULL AND (a.transaction_id, a.id) > (:tx, :id) "
    "ORDER BY a.transaction_id, a.id LIMIT :limit"
)


async def _rows_to_seal(connection: AsyncConnection, batch_size: int) -> AsyncIterator[sa.Row[Any]]:
    """Every row seals cover (those without a sequence), in chain order, each with PostgreSQL's digest of it now."""
    after = BEFORE_ANY_ROW
    while True:
        batch = (
            await connection.execute(
                ROWS_TO_SEAL,
                {"tx": after[0], "id": after[1], "limit": batch_size},
            )
        ).all()
        for row in batch:
            yield row
        if len(batch) < batch_size:
            return
        after = (int(batch[-1].transaction_id), int(batch[-1].id))


async def _verify_seals(connection: AsyncConnection, walk: _Walk, batch_size: int) -> tuple[int, int]:
    """The seals in order: place, link, hash, and each covered row's digest in its position. The last key covered."""
    rows = aiter(_rows_to_seal(connection, batch_size))
    covered = BEFORE_ANY_ROW
    seal_sequence = 1
    while walk.broken_at is None:
        seals = (
            await connection.execute(
                sa.select(AUDIT_SEALS)
                .where(AUDIT_SEALS.c.sequence >= seal_sequence)
                .order_by(AUDIT_SEALS.c.sequence)
                .limit(max(1, batch_size // 100))
            )
        ).all()
        if not seals:
            break
        for seal in seals:
            digests = bytes(seal.row_digests)
            expected_hash = hashlib.sha256(bytes.fromhex(walk.previous_hash) + digests).hexdigest()
            if (
                seal.sequence != seal_sequence
                or seal.previous_hash != walk.previous_hash
                or seal.seal_hash != expected_hash
                or len(digests) != DIGEST_BYTES * seal.row_count
            ):
                walk.broken_at = int(seal.first_audit_id)
                return covered
            oldest: datetime | None = None
            for position in range(seal.row_count):
                row = await anext(rows, None)
                stored = digests[DIGEST_BYTES * position : DIGEST_BYTES * (position + 1)]
                if row is None or bytes(row.digest) != stored:
                    # A changed row, or the first row after one removed or slipped in.
                    walk.broken_at = int(row.id) if row is not None else int(seal.last_audit_id)
                    return covered
                covered = (int(row.transaction_id), int(row.id))
                oldest = row.occurred_at if oldest is None else min(oldest, row.occurred_at)
            if covered != (seal.last_transaction_id, seal.last_audit_id):
                walk.broken_at = covered[1]
                return covered
            if oldest is not None:
                walk.longest = _longer(walk.longest, as_utc(seal.sealed_at) - as_utc(oldest))
            walk.previous_hash = seal.seal_hash
            walk.sealed += seal.row_count
            walk.seals += 1
            seal_sequence += 1
    return covered


async def verify_report(db: AsyncSession, *, batch_size: int = 1000) -> ChainReport:
    """Check the whole chain (rows chained one by one, then the seals) and measure the unsealed tail."""
    walk = _Walk()
    connection = await db.connection()
    await _verify_rows(connection, walk, batch_size)
    unsealed = sa.and_(AUDIT_LOG.c.sequence.is_(None))
    if walk.broken_at is None and connection.dialect.name == "postgresql":
        covered = await _verify_seals(connection, walk, batch_size)
        unsealed = sa.and_(unsealed, sa.tuple_(AUDIT_LOG.c.transaction_id, AUDIT_LOG.c.id) > sa.tuple_(*covered))
    tail = (
        await connection.execute(sa.select(sa.func.count(), sa.func.min(AUDIT_LOG.c.occurred_at)).where(unsealed))
    ).one()
    oldest = tail[1]
    return ChainReport(
        broken_at=walk.broken_at,
        sealed=walk.sealed,
        unsealed=int(tail[0]),
        oldest_unsealed_at=as_utc(oldest) if oldest is not None else None,
        longest_sealing_delay=walk.longest,
        seals=walk.seals,
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
