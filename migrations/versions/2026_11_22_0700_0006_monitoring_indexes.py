"""Monitoring indexes: the dates the Commissioner's figures count tasks by (sent, accepted, closed, first
contact), the sent, closed and first-contact ones covering the columns the monitoring report reads on PostgreSQL.

Revision ID: 0006_monitoring_indexes
Revises: 0005_restorative_justice
Create Date: 2026-11-22 07:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_monitoring_indexes"
down_revision: str | None = "0005_restorative_justice"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral_tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referral_tasks_requested_at"),
            ["requested_at"],
            unique=False,
            postgresql_include=["provider_organisation_id", "victim_id", "consent_id", "status"],
        )
        batch_op.create_index(batch_op.f("ix_referral_tasks_accepted_at"), ["accepted_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_referral_tasks_closed_at"),
            ["closed_at"],
            unique=False,
            postgresql_include=["id", "provider_organisation_id", "status"],
        )
        batch_op.create_index(
            batch_op.f("ix_referral_tasks_first_contact_at"),
            ["first_contact_at"],
            unique=False,
            postgresql_include=["requested_at", "provider_organisation_id", "status"],
        )


def downgrade() -> None:
    with op.batch_alter_table("referral_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_tasks_first_contact_at"))
        batch_op.drop_index(batch_op.f("ix_referral_tasks_closed_at"))
        batch_op.drop_index(batch_op.f("ix_referral_tasks_accepted_at"))
        batch_op.drop_index(batch_op.f("ix_referral_tasks_requested_at"))
