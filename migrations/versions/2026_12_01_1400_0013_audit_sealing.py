"""Audit sealing: rows are written unsealed with their transaction's id and sealed into the chain off the request path.

The chain's columns become nullable, each row gains `transaction_id` and `sealed_at`, a partial index serves the
sealer's read of the unsealed tail, and on PostgreSQL the append-only trigger now lets a row change exactly once:
from unsealed to sealed, touching nothing but the sealing columns.

Revision ID: 0013_audit_sealing
Revises: 0012_outbox_pending_index
Create Date: 2026-12-01 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_audit_sealing"
down_revision: str | None = "0012_outbox_pending_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column but the sealing ones; json has no equality operator, so subject_ids is compared as text.
_UNCHANGING = (
    "id",
    "occurred_at",
    "category",
    "action",
    "purpose",
    "actor_organisation_id",
    "actor",
    "victim_id",
    "subject_ids::text",
    "recipient_organisation_id",
    "safeguarding_override",
    "transaction_id",
)


def _columns_of(record: str) -> str:
    return ", ".join(f"{record}.{column}" for column in _UNCHANGING)


POSTGRESQL_SEAL_ONCE = f"""
    CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE'
           AND OLD.sequence IS NULL AND OLD.previous_hash IS NULL AND OLD.row_hash IS NULL AND OLD.sealed_at IS NULL
           AND NEW.sequence IS NOT NULL AND NEW.previous_hash IS NOT NULL AND NEW.row_hash IS NOT NULL
           AND NEW.sealed_at IS NOT NULL
           AND ({_columns_of("NEW")}) IS NOT DISTINCT FROM ({_columns_of("OLD")})
        THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_log is append-only';
    END
    $$
"""
POSTGRESQL_APPEND_ONLY = """
    CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
    END
    $$
"""
# Rebuilding the table for the column changes drops its triggers on SQLite; they are made again as in 0003.
SQLITE_APPEND_ONLY = (
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
    """,
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
    """,
)
UNSEALED = sa.text("sequence IS NULL")
SEALABLE = "ck_audit_log_sealable"


def _chain_columns_nullable(batch_op: object, nullable: bool) -> None:
    for name, kind in (("sequence", sa.Integer()), ("previous_hash", sa.String(64)), ("row_hash", sa.String(64))):
        batch_op.alter_column(name, existing_type=kind, nullable=nullable)  # type: ignore[attr-defined]


def _sqlite_triggers(create: bool) -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    if create:
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if not postgresql:
        _sqlite_triggers(create=False)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transaction_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=True))
        _chain_columns_nullable(batch_op, nullable=True)
        batch_op.create_index(
            "ix_audit_log_unsealed",
            ["transaction_id", "id"],
            unique=False,
            sqlite_where=UNSEALED,
            postgresql_where=UNSEALED,
        )
    if postgresql:
        op.execute(POSTGRESQL_SEAL_ONCE)
        # A row the sealer could never place (unsealed, no transaction id) is refused at its INSERT, not lost later.
        op.create_check_constraint(SEALABLE, "audit_log", "sequence IS NOT NULL OR transaction_id IS NOT NULL")
    else:
        _sqlite_triggers(create=True)


def downgrade() -> None:
    # Fails on NOT NULL while unsealed rows remain: run `gateway audit seal` first, with the writers stopped.
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.drop_constraint(SEALABLE, "audit_log", type_="check")
        op.execute(POSTGRESQL_APPEND_ONLY)
    else:
        _sqlite_triggers(create=False)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_unsealed")
        _chain_columns_nullable(batch_op, nullable=False)
        batch_op.drop_column("sealed_at")
        batch_op.drop_column("transaction_id")
    if not postgresql:
        _sqlite_triggers(create=True)
