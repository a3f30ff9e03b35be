"""RJ casework as used: controlled vocabularies (risk level, home agency, accreditation level), facilitators'
names, longer safe-contact notes and reasons, conferences recorded afterwards, and case notes.

The free text already stored is mapped onto the vocabularies: a recognisable value to its term, anything else to
the most careful term (risk: high; agency: other; accreditation: practitioner), so no row is left outside them.

Revision ID: 0010_rj_vocabularies
Revises: 0009_notifications
Create Date: 2026-12-01 10:40:00.000000
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_rj_vocabularies"
down_revision: str | None = "0009_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RISK_LEVELS = ("low", "medium", "high")
AGENCY_WORDS = (
    ("probation", "probation-service"),
    ("youth", "youth-justice-service"),
    ("prison", "prison-service"),
    ("police", "police"),
    ("constabulary", "police"),
    ("victim", "victim-services"),
    ("hub", "rj-hub"),
    ("volunteer", "volunteer"),
)
AGENCIES = {term for _, term in AGENCY_WORDS} | {"other"}
LEVELS = ("trainee", "practitioner", "accredited-practitioner", "complex-and-sensitive")


def _risk(text: str) -> str:
    words = text.strip().lower()
    return words if words in RISK_LEVELS else ("medium" if words.startswith("med") else "high")


def _agency(text: str) -> str:
    words = text.strip().lower()
    if words in AGENCIES:
        return words
    return next((term for word, term in AGENCY_WORDS if word in words), "other")


def _level(text: str) -> str:
    words = text.strip().lower()
    if words in LEVELS:
        return words
    if "complex" in words or "sensitive" in words:
        return "complex-and-sensitive"
    if "trainee" in words or "training" in words:
        return "trainee"
    if "accredited" in words:
        return "accredited-practitioner"
    return "practitioner"


def _map_column(table: str, column: str, term: Callable[[str], str]) -> None:
    connection = op.get_bind()
    rows = sa.table(table, sa.column(column, sa.String()))
    field = rows.c[column]
    found = connection.execute(sa.select(field).distinct().where(field.is_not(None)))
    for (value,) in found.all():
        mapped = term(value)
        if mapped != value:
            connection.execute(sa.update(rows).where(field == value).values({column: mapped}))


def upgrade() -> None:
    _map_column("rj_cases", "risk_level", _risk)
    _map_column("rj_facilitators", "home_agency", _agency)
    _map_column("rj_facilitators", "accreditation_level", _level)

    with op.batch_alter_table("rj_facilitators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(length=120), nullable=True))
    # Until the co-ordinator names them, a facilitator is known by their sign-in address.
    op.execute(
        "UPDATE rj_facilitators SET display_name = "
        "(SELECT substr(users.email, 1, 120) FROM users WHERE users.id = rj_facilitators.user_id)"
    )
    with op.batch_alter_table("rj_facilitators", schema=None) as batch_op:
        batch_op.alter_column("display_name", existing_type=sa.String(length=120), nullable=False)

    with op.batch_alter_table("rj_parties", schema=None) as batch_op:
        batch_op.alter_column("safe_contact_notes", existing_type=sa.String(length=200), type_=sa.String(length=2000))
    with op.batch_alter_table("rj_conferences", schema=None) as batch_op:
        batch_op.alter_column("status_reason", existing_type=sa.String(length=200), type_=sa.String(length=1000))
        batch_op.add_column(sa.Column("recorded_afterwards", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("rj_conferences", schema=None) as batch_op:
        batch_op.alter_column("recorded_afterwards", existing_type=sa.Boolean(), server_default=None)

    op.create_table(
        "rj_case_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("written_by", sa.String(length=120), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["rj_cases.id"], name=op.f("fk_rj_case_notes_case_id_rj_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rj_case_notes")),
    )
    with op.batch_alter_table("rj_case_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rj_case_notes_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rj_case_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rj_case_notes_case_id"))
    op.drop_table("rj_case_notes")
    # The longer texts are cut to the old lengths; the vocabulary terms stay, as the free text they once were.
    op.execute("UPDATE rj_conferences SET status_reason = substr(status_reason, 1, 200)")
    op.execute("UPDATE rj_parties SET safe_contact_notes = substr(safe_contact_notes, 1, 200)")
    with op.batch_alter_table("rj_conferences", schema=None) as batch_op:
        batch_op.drop_column("recorded_afterwards")
        batch_op.alter_column("status_reason", existing_type=sa.String(length=1000), type_=sa.String(length=200))
    with op.batch_alter_table("rj_parties", schema=None) as batch_op:
        batch_op.alter_column("safe_contact_notes", existing_type=sa.String(length=2000), type_=sa.String(length=200))
    with op.batch_alter_table("rj_facilitators", schema=None) as batch_op:
        batch_op.drop_column("display_name")
