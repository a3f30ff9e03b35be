"""Rules for the s.62 log: append in the caller's transaction, verify the chain, read a victim's trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.audit.models import GENESIS_HASH, AuditCategory, AuditEntry
from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.errors import Forbidden, NotFound
from gateway.organisations.models import utc_now
from gateway.victims.models import Victim

# Any constant works; it only has to be the same for every writer of the chain.
AUDIT_CHAIN_LOCK_KEY = 0x6175_6469_7430  # "audit0"
PUBLIC_ACTOR = "public:self-referral"


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


def compute_row_hash(entry: AuditEntry) -> str:
    """The hash a log row must carry."""
    return hash_row_values({name: getattr(entry, name) for name in HASHED_FIELDS})


async def _lock_chain_head(db: AsyncSession) -> None:
    connection = await db.connection()
    if connection.dialect.name == "postgresql":
        # Held until the transaction ends, so appends from concurrent requests queue instead of forking.
        await db.exec(select(sa.func.pg_advisory_xact_lock(AUDIT_CHAIN_LOCK_KEY)))
    # SQLite allows one writer at a time; the unique sequence refuses any fork that slipped through.


async def append_audit(
    *,
    db: AsyncSession,
    actor: Principal | None,
    records: Sequence[AuditRecord],
) -> list[AuditEntry]:
    """Append rows to the chain in the caller's transaction; a None actor is the public (self-referral).

    The rows are returned as written, without their ids.
    """
    if not records:
        return []
    await db.flush()  # the audited change reaches the database before its log row
    await _lock_chain_head(db)
    head = (await db.exec(select(AuditEntry).order_by(col(AuditEntry.sequence).desc()).limit(1))).first()
    sequence = head.sequence if head is not None else 0
    previous_hash = head.row_hash if head is not None else GENESIS_HASH
    moment = utc_now()
    entries: list[AuditEntry] = []
    for record in records:
        sequence += 1
        entry = AuditEntry(
            sequence=sequence,
            occurred_at=moment,
            category=record.category.value,
            action=record.action,
            purpose=record.purpose,
            actor_organisation_id=actor.organisation_id if actor is not None else None,
            actor=actor.actor_label if actor is not None else PUBLIC_ACTOR,
            victim_id=record.victim_id,
            subject_ids=dict(record.subject_ids),
            recipient_organisation_id=record.recipient_organisation_id,
            safeguarding_override=record.safeguarding_override,
            previous_hash=previous_hash,
            row_hash="",
        )
        entry.row_hash = compute_row_hash(entry)
        previous_hash = entry.row_hash
        entries.append(entry)
    # One executemany, not one INSERT per row: a page of 50 provider reads costs the same as a page of 5.
    await db.exec(sa.insert(AuditEntry), params=[entry.model_dump(exclude={"id"}) for entry in entries])
    return entries


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


async def read_audit_trail_for_victim(*, db: AsyncSession, actor: Principal, victim_id: int) -> list[AuditEntry]:
    """A holder of audit:read reads the whole trail of a victim whose record their organisation controls."""
    if not actor.has(Scope.AUDIT_READ):
        raise Forbidden()
    owned = (
        await db.exec(
            select(Victim.id).where(Victim.id == victim_id, Victim.hub_organisation_id == actor.organisation_id)
        )
    ).first()
    if owned is None:
        raise NotFound()
    rows = await db.exec(select(AuditEntry).where(AuditEntry.victim_id == victim_id).order_by(col(AuditEntry.sequence)))
    return list(rows.all())
