"""Referrals: victims, cases, consents, referrals and tasks, contact attempts, self-referrals,
the hash-chained audit log (append-only, enforced by triggers), the event outbox and idempotency keys.

Revision ID: 0003_referrals
Revises: 0002_auth
Create Date: 2026-11-22 03:17:46.643699
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_referrals"
down_revision: str | None = "0002_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The audit log is append-only: the database refuses UPDATE and DELETE, not just the application.
POSTGRESQL_APPEND_ONLY = (
    """
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
    """,
)
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


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_APPEND_ONLY if dialect == "postgresql" else SQLITE_APPEND_ONLY:
        op.execute(statement)


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=120), nullable=False),
        sa.Column("actor_organisation_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("victim_id", sa.Integer(), nullable=True),
        sa.Column("subject_ids", sa.JSON(), nullable=False),
        sa.Column("recipient_organisation_id", sa.Integer(), nullable=True),
        sa.Column("safeguarding_override", sa.Boolean(), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("sequence", name=op.f("uq_audit_log_sequence")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_victim_id"), ["victim_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_idempotency_keys_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "organisation_id", "operation", "key", name=op.f("uq_idempotency_keys_organisation_id_operation_key")
        ),
    )
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("subject_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_outbox_events_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_events_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "victims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hub_organisation_id", sa.Integer(), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("postcode", sa.String(length=12), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("guardian_name", sa.String(length=200), nullable=True),
        sa.Column("guardian_relationship", sa.String(length=60), nullable=True),
        sa.Column("guardian_phone", sa.String(length=32), nullable=True),
        sa.Column("guardian_email", sa.String(length=254), nullable=True),
        sa.Column("safe_phone", sa.String(length=32), nullable=True),
        sa.Column("safe_times", sa.String(length=200), nullable=True),
        sa.Column("voicemail_safe", sa.Boolean(), nullable=False),
        sa.Column("letters_safe", sa.Boolean(), nullable=False),
        sa.Column("perpetrator_shares_address", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=60), nullable=True),
        sa.Column("interpreter_needed", sa.Boolean(), nullable=False),
        sa.Column("equality_age_band", sa.String(length=20), nullable=True),
        sa.Column("equality_sex", sa.String(length=20), nullable=True),
        sa.Column("equality_ethnicity", sa.String(length=60), nullable=True),
        sa.Column("equality_disability", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hub_organisation_id"], ["organisations.id"], name=op.f("fk_victims_hub_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_victims")),
    )
    with op.batch_alter_table("victims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_victims_hub_organisation_id"), ["hub_organisation_id"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hub_organisation_id", sa.Integer(), nullable=False),
        sa.Column("victim_id", sa.Integer(), nullable=False),
        sa.Column("arrival_route", sa.String(length=40), nullable=False),
        sa.Column("reported_to_police", sa.Boolean(), nullable=False),
        sa.Column("crime_reference", sa.String(length=40), nullable=True),
        sa.Column("crime_category", sa.String(length=40), nullable=False),
        sa.Column("domestic_abuse_risk", sa.String(length=20), nullable=False),
        sa.Column("priority_most_serious_crime", sa.Boolean(), nullable=False),
        sa.Column("priority_persistently_targeted", sa.Boolean(), nullable=False),
        sa.Column("priority_vulnerable_or_intimidated", sa.Boolean(), nullable=False),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("assessment_notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hub_organisation_id"], ["organisations.id"], name=op.f("fk_cases_hub_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["victim_id"], ["victims.id"], name=op.f("fk_cases_victim_id_victims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_hub_organisation_id"), ["hub_organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_victim_id"), ["victim_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hub_organisation_id", sa.Integer(), nullable=False),
        sa.Column("victim_id", sa.Integer(), nullable=False),
        sa.Column("given_by", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider_slugs", sa.JSON(), nullable=False),
        sa.Column("data_categories", sa.JSON(), nullable=False),
        sa.Column("withheld_information", sa.Text(), nullable=True),
        sa.Column("withheld_reason", sa.Text(), nullable=True),
        sa.Column("statistics_consent", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["hub_organisation_id"], ["organisations.id"], name=op.f("fk_consents_hub_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["victim_id"], ["victims.id"], name=op.f("fk_consents_victim_id_victims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_hub_organisation_id"), ["hub_organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_victim_id"), ["victim_id"], unique=False)

    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("hub_organisation_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("victim_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_referrals_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["hub_organisation_id"], ["organisations.id"], name=op.f("fk_referrals_hub_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["victim_id"], ["victims.id"], name=op.f("fk_referrals_victim_id_victims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("reference", name=op.f("uq_referrals_reference")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referrals_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_hub_organisation_id"), ["hub_organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_victim_id"), ["victim_id"], unique=False)

    op.create_table(
        "referral_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("hub_organisation_id", sa.Integer(), nullable=False),
        sa.Column("provider_organisation_id", sa.Integer(), nullable=False),
        sa.Column("provider_slug", sa.String(length=64), nullable=False),
        sa.Column("victim_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("replaces_task_id", sa.Integer(), nullable=True),
        sa.Column("consent_id", sa.Integer(), nullable=True),
        sa.Column("safeguarding_override", sa.Boolean(), nullable=False),
        sa.Column("override_justification", sa.Text(), nullable=True),
        sa.Column("override_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accept_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_contact_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("appointment_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waitlisted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_referral_tasks_case_id_cases")),
        sa.ForeignKeyConstraint(["consent_id"], ["consents.id"], name=op.f("fk_referral_tasks_consent_id_consents")),
        sa.ForeignKeyConstraint(
            ["hub_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_referral_tasks_hub_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_referral_tasks_provider_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_referral_tasks_referral_id_referrals")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_task_id"], ["referral_tasks.id"], name=op.f("fk_referral_tasks_replaces_task_id_referral_tasks")
        ),
        sa.ForeignKeyConstraint(["victim_id"], ["victims.id"], name=op.f("fk_referral_tasks_victim_id_victims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_tasks")),
        sa.UniqueConstraint("reference", name=op.f("uq_referral_tasks_reference")),
    )
    with op.batch_alter_table("referral_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_tasks_accept_due_at"), ["accept_due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_referral_tasks_first_contact_due_at"), ["first_contact_due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_referral_tasks_hub_organisation_id"), ["hub_organisation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_referral_tasks_provider_organisation_id"), ["provider_organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_referral_tasks_referral_id"), ["referral_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_tasks_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_tasks_victim_id"), ["victim_id"], unique=False)

    op.create_table(
        "self_referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("confirmation_reference", sa.String(length=20), nullable=False),
        sa.Column("hub_organisation_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("postcode", sa.String(length=12), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("safe_phone", sa.String(length=32), nullable=True),
        sa.Column("safe_times", sa.String(length=200), nullable=True),
        sa.Column("voicemail_safe", sa.Boolean(), nullable=False),
        sa.Column("letters_safe", sa.Boolean(), nullable=False),
        sa.Column("perpetrator_shares_address", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=60), nullable=True),
        sa.Column("interpreter_needed", sa.Boolean(), nullable=False),
        sa.Column("consent_to_contact", sa.Boolean(), nullable=False),
        sa.Column("reported_to_police", sa.Boolean(), nullable=True),
        sa.Column("crime_category", sa.String(length=40), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("what_happened", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("triaged_by", sa.String(length=120), nullable=True),
        sa.Column("close_reason", sa.String(length=40), nullable=True),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["hub_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_self_referrals_hub_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_self_referrals_referral_id_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_referrals")),
        sa.UniqueConstraint("confirmation_reference", name=op.f("uq_self_referrals_confirmation_reference")),
    )
    with op.batch_alter_table("self_referrals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_self_referrals_hub_organisation_id"), ["hub_organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_self_referrals_status"), ["status"], unique=False)

    op.create_table(
        "contact_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("result", sa.String(length=30), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["referral_tasks.id"], name=op.f("fk_contact_attempts_task_id_referral_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_attempts")),
    )
    with op.batch_alter_table("contact_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_attempts_task_id"), ["task_id"], unique=False)
    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    with op.batch_alter_table("contact_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_attempts_task_id"))

    op.drop_table("contact_attempts")
    with op.batch_alter_table("self_referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_self_referrals_status"))
        batch_op.drop_index(batch_op.f("ix_self_referrals_hub_organisation_id"))

    op.drop_table("self_referrals")
    with op.batch_alter_table("referral_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_tasks_victim_id"))
        batch_op.drop_index(batch_op.f("ix_referral_tasks_status"))
        batch_op.drop_index(batch_op.f("ix_referral_tasks_referral_id"))
        batch_op.drop_index(batch_op.f("ix_referral_tasks_provider_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_referral_tasks_hub_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_referral_tasks_first_contact_due_at"))
        batch_op.drop_index(batch_op.f("ix_referral_tasks_accept_due_at"))

    op.drop_table("referral_tasks")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referrals_victim_id"))
        batch_op.drop_index(batch_op.f("ix_referrals_hub_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_referrals_case_id"))

    op.drop_table("referrals")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_victim_id"))
        batch_op.drop_index(batch_op.f("ix_consents_hub_organisation_id"))

    op.drop_table("consents")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_victim_id"))
        batch_op.drop_index(batch_op.f("ix_cases_hub_organisation_id"))

    op.drop_table("cases")
    with op.batch_alter_table("victims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_victims_hub_organisation_id"))

    op.drop_table("victims")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_organisation_id"))

    op.drop_table("outbox_events")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_victim_id"))

    op.drop_table("audit_log")
