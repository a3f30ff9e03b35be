"""Restorative Justice casework: facilitators, RJ cases, parties, preparation meetings, interventions,
outcome-agreement actions, conferences with their participants and facilitators.

Revision ID: 0005_restorative_justice
Revises: 0004_outcomes_grants
Create Date: 2026-11-22 04:03:04.293743
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_restorative_justice"
down_revision: str | None = "0004_outcomes_grants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rj_facilitators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("home_agency", sa.String(length=120), nullable=False),
        sa.Column("accreditation_level", sa.String(length=60), nullable=False),
        sa.Column("accreditation_expires_on", sa.Date(), nullable=False),
        sa.Column("feed_token_hash", sa.String(length=64), nullable=True),
        sa.Column("feed_token_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_rj_facilitators_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_rj_facilitators_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rj_facilitators")),
        sa.UniqueConstraint("feed_token_hash", name=op.f("uq_rj_facilitators_feed_token_hash")),
        sa.UniqueConstraint("user_id", name=op.f("uq_rj_facilitators_user_id")),
    )
    with op.batch_alter_table("rj_facilitators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rj_facilitators_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "rj_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("crime_category", sa.String(length=40), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("halted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lead_facilitator_id", sa.Integer(), nullable=True),
        sa.Column("co_facilitator_id", sa.Integer(), nullable=True),
        sa.Column("initial_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assessed_suitable", sa.Boolean(), nullable=True),
        sa.Column("risk_level", sa.String(length=20), nullable=True),
        sa.Column("assessed_by", sa.String(length=120), nullable=True),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=120), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("intervention_kind", sa.String(length=30), nullable=True),
        sa.Column("intervention_delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agreement_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agreement_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("follow_up_due_on", sa.Date(), nullable=True),
        sa.Column("follow_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("harmed_satisfaction", sa.String(length=20), nullable=True),
        sa.Column("closure_reason", sa.String(length=30), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["co_facilitator_id"], ["rj_facilitators.id"], name=op.f("fk_rj_cases_co_facilitator_id_rj_facilitators")
        ),
        sa.ForeignKeyConstraint(
            ["lead_facilitator_id"],
            ["rj_facilitators.id"],
            name=op.f("fk_rj_cases_lead_facilitator_id_rj_facilitators"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_rj_cases_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["referral_tasks.id"], name=op.f("fk_rj_cases_task_id_referral_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rj_cases")),
        sa.UniqueConstraint("reference", name=op.f("uq_rj_cases_reference")),
        sa.UniqueConstraint("task_id", name=op.f("uq_rj_cases_task_id")),
    )
    with op.batch_alter_table("rj_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rj_cases_co_facilitator_id"), ["co_facilitator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rj_cases_lead_facilitator_id"), ["lead_facilitator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rj_cases_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rj_cases_stage"), ["stage"], unique=False)

    op.create_table(
        "rj_conferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("venue", sa.String(length=200), nullable=True),
        sa.Column("venue_key", sa.String(length=200), nullable=True),
        sa.Column("video_call", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.String(length=200), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["rj_cases.id"], name=op.f("fk_rj_conferences_case_id_rj_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rj_conferences")),
    )
    with op.batch_alter_table("rj_conferences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rj_conferences_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rj_conferences_ends_at"), ["ends_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_rj_conferences_starts_at"), ["starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_rj_conferences_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_rj_conferences_venue_key"), ["venue_key"], unique=False)

    op.create_table(
        "rj_parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("supports_party_id", sa.Integer(), nullable=True),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("safe_contact_notes", sa.String(length=200), nullable=True),
        sa.Column("consent_given_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_method", sa.String(length=20), nullable=True),
        sa.Column("willing", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["rj_cases.id"], name=op.f("fk_rj_parties_case_id_rj_cases")),
        sa.ForeignKeyConstraint(
            ["supports_party_id"], ["rj_parties.id"], name=op.f("fk_rj_parties_supports_party_id_rj_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rj_parties")),
    )
    with op.batch_alter_table("rj_parties", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rj_parties_case_id"), ["case_id"], unique=False)

    op.create_table(
        "rj_agreement_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("owner_party_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["rj_cases.id"], name=op.f("fk_rj_agreement_actions_case_id_rj_cases")),
        sa.ForeignKeyConstraint(
            ["owner_party_id"], ["rj_parties.id"], name=op.f("fk_rj_agreement_actions_owner_party_id_rj_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rj_agreement_actions")),
    )
    with op.batch_alter_table("rj_agreement_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rj_agreement_actions_case_id"), ["case_id"], unique=False)

    op.create_table(
        "rj_conference_facilitators",
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("facilitator_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["rj_conferences.id"],
            name=op.f("fk_rj_conference_facilitators_conference_id_rj_conferences"),
        ),
        sa.ForeignKeyConstraint(
            ["facilitator_id"],
            ["rj_facilitators.id"],
            name=op.f("fk_rj_conference_facilitators_facilitator_id_rj_facilitators"),
        ),
        sa.PrimaryKeyConstraint("conference_id", "facilitator_id", name=op.f("pk_rj_conference_facilitators")),
    )
    with op.batch_alter_table("rj_conference_facilitators", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rj_conference_facilitators_facilitator_id"), ["facilitator_id"], unique=False
        )

    op.create_table(
        "rj_conference_participants",
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("attended", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["rj_conferences.id"],
            name=op.f("fk_rj_conference_participants_conference_id_rj_conferences"),
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["rj_parties.id"], name=op.f("fk_rj_conference_participants_party_id_rj_parties")
        ),
        sa.PrimaryKeyConstraint("conference_id", "party_id", name=op.f("pk_rj_conference_participants")),
    )
    with op.batch_alter_table("rj_conference_participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rj_conference_participants_party_id"), ["party_id"], unique=False)

    op.create_table(
        "rj_interventions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["rj_cases.id"], name=op.f("fk_rj_interventions_case_id_rj_cases")),
        sa.ForeignKeyConstraint(
            ["conference_id"], ["rj_conferences.id"], name=op.f("fk_rj_interventions_conference_id_rj_conferences")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rj_interventions")),
    )
    with op.batch_alter_table("rj_interventions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rj_interventions_case_id"), ["case_id"], unique=False)

    op.create_table(
        "rj_preparation_meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["rj_cases.id"], name=op.f("fk_rj_preparation_meetings_case_id_rj_cases")),
        sa.ForeignKeyConstraint(
            ["party_id"], ["rj_parties.id"], name=op.f("fk_rj_preparation_meetings_party_id_rj_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rj_preparation_meetings")),
    )
    with op.batch_alter_table("rj_preparation_meetings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rj_preparation_meetings_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rj_preparation_meetings_party_id"), ["party_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rj_preparation_meetings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_preparation_meetings_party_id"))
        batch_op.drop_index(batch_op.f("ix_rj_preparation_meetings_case_id"))

    op.drop_table("rj_preparation_meetings")
    with op.batch_alter_table("rj_interventions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_interventions_case_id"))

    op.drop_table("rj_interventions")
    with op.batch_alter_table("rj_conference_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_conference_participants_party_id"))

    op.drop_table("rj_conference_participants")
    with op.batch_alter_table("rj_conference_facilitators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_conference_facilitators_facilitator_id"))

    op.drop_table("rj_conference_facilitators")
    with op.batch_alter_table("rj_agreement_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_agreement_actions_case_id"))

    op.drop_table("rj_agreement_actions")
    with op.batch_alter_table("rj_parties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_parties_case_id"))

    op.drop_table("rj_parties")
    with op.batch_alter_table("rj_conferences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_conferences_venue_key"))
        batch_op.drop_index(batch_op.f("ix_rj_conferences_status"))
        batch_op.drop_index(batch_op.f("ix_rj_conferences_starts_at"))
        batch_op.drop_index(batch_op.f("ix_rj_conferences_ends_at"))
        batch_op.drop_index(batch_op.f("ix_rj_conferences_case_id"))

    op.drop_table("rj_conferences")
    with op.batch_alter_table("rj_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_cases_stage"))
        batch_op.drop_index(batch_op.f("ix_rj_cases_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_rj_cases_lead_facilitator_id"))
        batch_op.drop_index(batch_op.f("ix_rj_cases_co_facilitator_id"))

    op.drop_table("rj_cases")
    with op.batch_alter_table("rj_facilitators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_facilitators_organisation_id"))

    op.drop_table("rj_facilitators")
