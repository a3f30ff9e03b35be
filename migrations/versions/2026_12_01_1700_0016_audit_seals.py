"""Audit seals: the chain on PostgreSQL is a run of insert-only seals; audit rows are never written again.

Each `audit_seals` row covers a batch of audit rows in (transaction_id, id) order by their digests and links to the
seal before it. Sealing used to UPDATE every audit row (a new version of the row and of each of its index entries,
about 0.7 ms of PostgreSQL time for a 50-row page); now it inserts one row a batch. On PostgreSQL the append-only
trigger goes back to refusing every change to an audit row, and the same is set on the seals, on both databases.
The sequence's unique constraint becomes a partial unique index (sequence IS NOT NULL): PostgreSQL's rows have none,
and indexing their nulls cost an index insertion per audited row.
Rows already sealed one by one keep their sequence and hashes, and the first seal continues from the last of them.

Revision ID: 0016_audit_seals
Revises: 0015_trusted_documents
Create Date: 2026-12-01 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_audit_seals"
down_revision: str | None = "0015_trusted_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL_APPEND_ONLY = """
    CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
    END
    $$
"""
POSTGRESQL_SEALS_APPEND_ONLY = (
    """
    CREATE FUNCTION audit_seals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_seals is append-only';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION audit_seals_append_only()
    """,
)
SQLITE_SEALS_APPEND_ONLY = (
    """
    CREATE TRIGGER audit_seals_no_update BEFORE UPDATE ON audit_seals
    BEGIN SELECT RAISE(ABORT, 'audit_seals is append-only'); END
    """,
    """
    CREATE TRIGGER audit_seals_no_delete BEFORE DELETE ON audit_seals
    BEGIN SELECT RAISE(ABORT, 'audit_seals is append-only'); END
    """,
)
SQLITE_LOG_APPEND_ONLY = (
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
    """,
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
    """,
)


def _sqlite_log_triggers(create: bool) -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    if create:
        for statement in SQLITE_LOG_APPEND_ONLY:
            op.execute(statement)


# Migration 0013's rule, put back on downgrade: a row may change once, from unsealed to sealed.
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


SEQUENCE_SET = sa.text("sequence IS NOT NULL")


def _sequence_unique(partial: bool) -> None:
    # The constraint becomes a partial unique index: rows without a sequence (all of PostgreSQL's now) stay out of it.
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        if partial:
            batch_op.drop_constraint("uq_audit_log_sequence", type_="unique")
            batch_op.create_index(
                "uq_audit_log_sequence",
                ["sequence"],
                unique=True,
                sqlite_where=SEQUENCE_SET,
                postgresql_where=SEQUENCE_SET,
            )
        else:
            batch_op.drop_index("uq_audit_log_sequence")
            batch_op.create_unique_constraint("uq_audit_log_sequence", ["sequence"])


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if not postgresql:
        # Rebuilding the table in batch mode drops SQLite's triggers; they are made again below, as in 0013.
        _sqlite_log_triggers(create=False)
    _sequence_unique(partial=True)
    op.create_table(
        "audit_seals",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("first_audit_id", sa.BigInteger(), nullable=False),
        sa.Column("last_transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("last_audit_id", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("row_digests", sa.LargeBinary(), nullable=False),
        sa.Column("seal_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("oldest_occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_audit_seals")),
    )
    if postgresql:
        for statement in POSTGRESQL_SEALS_APPEND_ONLY:
            op.execute(statement)
        op.execute(POSTGRESQL_APPEND_ONLY)
    else:
        _sqlite_log_triggers(create=True)
        for statement in SQLITE_SEALS_APPEND_ONLY:
            op.execute(statement)


def downgrade() -> None:
    # Rows covered by seals lose their seals: run migration 0013's sealer (`gateway audit seal`) after downgrading.
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(POSTGRESQL_SEAL_ONCE)
        op.execute("DROP TRIGGER IF EXISTS audit_seals_append_only ON audit_seals")
        op.execute("DROP FUNCTION IF EXISTS audit_seals_append_only()")
    op.drop_table("audit_seals")
    if not postgresql:
        _sqlite_log_triggers(create=False)
    _sequence_unique(partial=False)
    if not postgresql:
        _sqlite_log_triggers(create=True)
