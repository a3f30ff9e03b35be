"""Notifications: endpoints per organisation, deliveries and attempts, and escalations recorded once per task.

Revision ID: 0009_notifications
Revises: 0008_portal_sessions
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_notifications"
down_revision: str | None = "0008_portal_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("mailbox", sa.String(length=254), nullable=True),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_notification_endpoints_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_endpoints")),
    )
    with op.batch_alter_table("notification_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_endpoints_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=64), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["notification_endpoints.id"],
            name=op.f("fk_notification_deliveries_endpoint_id_notification_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["outbox_events.id"], name=op.f("fk_notification_deliveries_event_id_outbox_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint("event_id", "endpoint_id", name=op.f("uq_notification_deliveries_event_id_endpoint_id")),
    )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_deliveries_endpoint_id"), ["endpoint_id"], unique=False)
        batch_op.create_index(
            "ix_notification_deliveries_endpoint_id_subject_key", ["endpoint_id", "subject_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_notification_deliveries_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            "ix_notification_deliveries_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "notification_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notification_deliveries.id"],
            name=op.f("fk_notification_attempts_delivery_id_notification_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
    )
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_attempts_delivery_id"), ["delivery_id"], unique=False)

    op.create_table(
        "task_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["referral_tasks.id"], name=op.f("fk_task_escalations_task_id_referral_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_escalations")),
        sa.UniqueConstraint("task_id", "kind", name=op.f("uq_task_escalations_task_id_kind")),
    )


def downgrade() -> None:
    op.drop_table("task_escalations")
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_attempts_delivery_id"))
    op.drop_table("notification_attempts")
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_deliveries_status_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_notification_deliveries_event_id"))
        batch_op.drop_index("ix_notification_deliveries_endpoint_id_subject_key")
        batch_op.drop_index(batch_op.f("ix_notification_deliveries_endpoint_id"))
    op.drop_table("notification_deliveries")
    with op.batch_alter_table("notification_endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_endpoints_organisation_id"))
    op.drop_table("notification_endpoints")
