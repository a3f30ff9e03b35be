"""Outcomes and grants: one outcome record per completed task with its provider-specific measures,
and the Commissioner's grants with their agreed targets.

Revision ID: 0004_outcomes_grants
Revises: 0003_referrals
Create Date: 2026-11-22 03:50:27.182554
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_outcomes_grants"
down_revision: str | None = "0003_referrals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=False),
        sa.Column("provider_organisation_id", sa.Integer(), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("first_financial_year", sa.Integer(), nullable=False),
        sa.Column("last_financial_year", sa.Integer(), nullable=False),
        sa.Column("funding_source", sa.String(length=40), nullable=False),
        sa.Column("services_funded", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_grants_provider_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
        sa.UniqueConstraint("reference", name=op.f("uq_grants_reference")),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_grants_provider_organisation_id"), ["provider_organisation_id"], unique=False
        )

    op.create_table(
        "grant_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=60), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], name=op.f("fk_grant_targets_grant_id_grants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_targets")),
        sa.UniqueConstraint("grant_id", "measure", name=op.f("uq_grant_targets_grant_id_measure")),
    )
    with op.batch_alter_table("grant_targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grant_targets_grant_id"), ["grant_id"], unique=False)

    op.create_table(
        "outcome_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("provider_organisation_id", sa.Integer(), nullable=False),
        sa.Column("informed_and_empowered", sa.String(length=20), nullable=False),
        sa.Column("health_and_wellbeing", sa.String(length=20), nullable=False),
        sa.Column("cope_and_recover", sa.String(length=20), nullable=False),
        sa.Column("feeling_safer", sa.String(length=20), nullable=False),
        sa.Column("baseline_score", sa.Integer(), nullable=True),
        sa.Column("exit_score", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_outcome_records_provider_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["referral_tasks.id"], name=op.f("fk_outcome_records_task_id_referral_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_records")),
        sa.UniqueConstraint("task_id", name=op.f("uq_outcome_records_task_id")),
    )
    with op.batch_alter_table("outcome_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outcome_records_provider_organisation_id"), ["provider_organisation_id"], unique=False
        )

    op.create_table(
        "outcome_measure_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        sa.Column("measure_code", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["outcome_records.id"], name=op.f("fk_outcome_measure_results_outcome_id_outcome_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_measure_results")),
        sa.UniqueConstraint(
            "outcome_id", "measure_code", name=op.f("uq_outcome_measure_results_outcome_id_measure_code")
        ),
    )


def downgrade() -> None:
    op.drop_table("outcome_measure_results")
    with op.batch_alter_table("outcome_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcome_records_provider_organisation_id"))

    op.drop_table("outcome_records")
    with op.batch_alter_table("grant_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grant_targets_grant_id"))

    op.drop_table("grant_targets")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_provider_organisation_id"))

    op.drop_table("grants")
