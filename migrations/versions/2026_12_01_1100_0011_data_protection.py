"""Data protection: legal holds on victims' records and the record of each rectification.

Revision ID: 0011_data_protection
Revises: 0010_rj_vocabularies
Create Date: 2026-12-01 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_data_protection"
down_revision: str | None = "0010_rj_vocabularies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("victim_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("placed_by", sa.String(length=120), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_by", sa.String(length=120), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["victim_id"], ["victims.id"], name=op.f("fk_legal_holds_victim_id_victims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_holds_victim_id"), ["victim_id"], unique=False)

    op.create_table(
        "rectifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("victim_id", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("rectified_by", sa.String(length=120), nullable=False),
        sa.Column("rectified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["victim_id"], ["victims.id"], name=op.f("fk_rectifications_victim_id_victims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectifications")),
    )
    with op.batch_alter_table("rectifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rectifications_victim_id"), ["victim_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rectifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rectifications_victim_id"))
    op.drop_table("rectifications")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_victim_id"))
    op.drop_table("legal_holds")
