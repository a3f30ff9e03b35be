"""The delivery rollup: monitoring counts per provider, quarter, metric and category.

Revision ID: 0014_delivery_rollup
Revises: 0013_audit_sealing
Create Date: 2026-12-01 14:10:00.000000

The table starts empty; `gateway report rebuild-rollup` fills it from the tasks (run it once after upgrading a
database that already holds tasks). From then on every change that moves a count maintains it in the same
transaction (gateway/monitoring/rollup.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_delivery_rollup"
down_revision: str | None = "0013_audit_sealing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_rollup",
        sa.Column("provider_organisation_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_delivery_rollup_provider_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint(
            "provider_organisation_id", "period", "metric", "category", name=op.f("pk_delivery_rollup")
        ),
    )


def downgrade() -> None:
    op.drop_table("delivery_rollup")
