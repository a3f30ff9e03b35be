"""The s.62 log: one row per processing of a victim's personal data, chained by hashes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["GENESIS_HASH", "AuditCategory", "AuditEntry", "metadata"]

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

    On PostgreSQL a row is written unsealed (no sequence, hashes or sealed_at, but the writing transaction's id) and
    the sealer (gateway/audit/sealer.py) places it in the chain shortly after its transaction ends; on SQLite it is
    written sealed. The database lets a row change only once, from unsealed to sealed, and never otherwise; on
    PostgreSQL it also refuses an unsealed row without a transaction id, which no sealer could place (migration 0013
    holds both rules, as 0003 holds the append-only triggers).
    """

    __tablename__ = "audit_log"
    # The sealer reads the unsealed rows in chain order: a partial index keeps that read the size of the unsealed
    # tail, not of the whole log.
    __table_args__ = (
        sa.Index(
            "ix_audit_log_unsealed",
            "transaction_id",
            "id",
            sqlite_where=sa.text("sequence IS NULL"),
            postgresql_where=sa.text("sequence IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # A gap-free position in the chain, null until sealed; unique so the chain can never fork.
    sequence: int | None = Field(default=None, nullable=True, sa_column_kwargs={"unique": True})
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
