"""The s.62 log: one row per processing of a victim's personal data, chained by hashes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["GENESIS_HASH", "AuditCategory", "AuditEntry", "AuditSeal", "metadata"]

UTC_DATETIME = UTCDateTime()
GENESIS_HASH = "0" * 64


class AuditCategory(StrEnum):
    """The kinds of processing DPA 2018 s.62 requires to be logged."""

    COLLECTION = "collection"
    ALTERATION = "alteration"
    CONSULTATION = "consultation"
    DISCLOSURE = "disclosure"
    COMBINATION = "combination"
    ERASURE = "erasure"


class AuditEntry(SQLModel, table=True):
    """An append-only log row. It names subjects by id and never holds the data itself.

    On SQLite a row is written sealed: its sequence and hashes chain it to the row before. On PostgreSQL it is written
    once and never changed: no sequence or hashes, but the writing transaction's id, and the sealer
    (gateway/audit/sealer.py) covers it by an `AuditSeal` shortly after its transaction ends. (Rows sealed one by one
    between migrations 0013 and 0016 keep their sequence and hashes; the first seal continues from the last of them.)
    The database refuses any change or deletion, and on PostgreSQL an unsealed row without a transaction id, which
    no sealer could place (migrations 0003, 0013 and 0016).
    """

    __tablename__ = "audit_log"
    # The sealer reads the rows left to seal in chain order, (transaction_id, id) after the last seal: rows without
    # a sequence are those the seals cover.
    __table_args__ = (
        # Unique so the chain can never fork; partial because PostgreSQL's rows never carry a sequence, and an entry
        # for each of them would be one more index insertion per audited row for nothing.
        sa.Index(
            "uq_audit_log_sequence",
            "sequence",
            unique=True,
            sqlite_where=sa.text("sequence IS NOT NULL"),
            postgresql_where=sa.text("sequence IS NOT NULL"),
        ),
        sa.Index(
            "ix_audit_log_unsealed",
            "transaction_id",
            "id",
            sqlite_where=sa.text("sequence IS NULL"),
            postgresql_where=sa.text("sequence IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # A gap-free position in the chain where rows are chained one by one (SQLite); null on PostgreSQL.
    sequence: int | None = Field(default=None, nullable=True)
    occurred_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    category: str = Field(max_length=20, nullable=False)
    action: str = Field(max_length=64, nullable=False)
    purpose: str = Field(max_length=120, nullable=False)
    # Null only for the public (self-referral); no foreign key so the log outlives what it describes.
    actor_organisation_id: int | None = Field(default=None)
    actor: str = Field(max_length=120, nullable=False)
    victim_id: int | None = Field(default=None, index=True)
    subject_ids: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    recipient_organisation_id: int | None = Field(default=None)
    safeguarding_override: bool = Field(default=False, nullable=False)
    previous_hash: str | None = Field(default=None, max_length=64, nullable=True)
    row_hash: str | None = Field(default=None, max_length=64, nullable=True)
    # PostgreSQL's top-level transaction id of the writer (pg_current_xact_id()), the chain's order; null on SQLite.
    transaction_id: int | None = Field(default=None, sa_type=sa.BigInteger, nullable=True)
    sealed_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME, nullable=True)


class AuditSeal(SQLModel, table=True):
    """One link of the chain on PostgreSQL: a run of audit rows, in (transaction_id, id) order, sealed together.

    `seal_hash` is sha256 over the previous seal's hash followed by each covered row's digest in order (the digest
    is sha256 of the row's every field, its id and transaction id included, as PostgreSQL renders them; see
    gateway/audit/sealer.py). Seals are inserted, never changed: the database refuses an UPDATE or DELETE
    (migration 0016), so sealing costs one small row a batch instead of rewriting every audit row.
    """

    __tablename__ = "audit_seals"

    # Gap-free from 1; the primary key makes a fork (two seals at one place) impossible.
    sequence: int = Field(primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False})
    first_transaction_id: int = Field(sa_type=sa.BigInteger, nullable=False)
    first_audit_id: int = Field(sa_type=sa.BigInteger, nullable=False)
    last_transaction_id: int = Field(sa_type=sa.BigInteger, nullable=False)
    last_audit_id: int = Field(sa_type=sa.BigInteger, nullable=False)
    row_count: int = Field(nullable=False)
    previous_hash: str = Field(max_length=64, nullable=False)
    # The covered rows' 32-byte digests, concatenated in chain order: verify names the exact row that changed.
    row_digests: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
    seal_hash: str = Field(max_length=64, nullable=False)
    sealed_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)
    # The earliest occurred_at among the covered rows: the seal's longest delay is sealed_at minus this.
    oldest_occurred_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)
