"""GraphQL output types of the officer's tools, built from rows; none holds a reason or note's text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import strawberry

from gateway.audit.models import AuditEntry
from gateway.data_protection.document import render_html
from gateway.data_protection.models import LegalHold, Rectification
from gateway.data_protection.vocabularies import AuditCategory


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type(description="One row of the s.62 log: who did what to whose data, when and why; never the data.")
class AuditTrailEntry:
    id: strawberry.ID
    sequence: int | None = strawberry.field(
        description=(
            "The row's place in the hash chain where rows are chained one by one (SQLite); null on PostgreSQL, "
            "where rows are never changed and seals cover them in batches (`gateway audit verify` checks both)."
        )
    )
    occurred_at: datetime
    category: AuditCategory
    action: str
    purpose: str
    actor: str
    actor_organisation_id: strawberry.ID | None
    victim_id: strawberry.ID | None
    recipient_organisation_id: strawberry.ID | None
    safeguarding_override: bool
    subjects: str = strawberry.field(description="The ids the row names, as a JSON object.")

    @classmethod
    def from_row(cls, row: AuditEntry) -> AuditTrailEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            sequence=row.sequence,
            occurred_at=row.occurred_at,
            category=AuditCategory(row.category),
            action=row.action,
            purpose=row.purpose,
            actor=row.actor,
            actor_organisation_id=_id(row.actor_organisation_id),
            victim_id=_id(row.victim_id),
            recipient_organisation_id=_id(row.recipient_organisation_id),
            safeguarding_override=row.safeguarding_override,
            subjects=json.dumps(row.subject_ids, sort_keys=True),
        )


@strawberry.type
class AuditTrailPage:
    items: list[AuditTrailEntry]
    next_cursor: str | None


@strawberry.type(description="Everything held about one victim and who saw it, for a subject access request.")
class SubjectAccessExport:
    victim_id: strawberry.ID
    json: str = strawberry.field(description="The export as a JSON document.")
    html: str = strawberry.field(description="The same export as a readable HTML document.")
    review_required: list[str] = strawberry.field(
        description="Parts to review before release (information withheld from sharing, say)."
    )

    @classmethod
    def from_export(cls, export: dict[str, Any]) -> SubjectAccessExport:
        return cls(
            victim_id=strawberry.ID(str(export["victim_id"])),
            json=json.dumps(export, indent=2, ensure_ascii=False),
            html=render_html(export),
            review_required=list(export["review_required"]),
        )


@strawberry.type(description="A hold on erasing a victim's records.")
class LegalHoldType:
    id: strawberry.ID
    victim_id: strawberry.ID
    placed_at: datetime
    placed_by: str
    lifted_at: datetime | None
    lifted_by: str | None

    @classmethod
    def from_row(cls, row: LegalHold) -> LegalHoldType:
        return cls(
            id=strawberry.ID(str(row.id)),
            victim_id=strawberry.ID(str(row.victim_id)),
            placed_at=row.placed_at,
            placed_by=row.placed_by,
            lifted_at=row.lifted_at,
            lifted_by=row.lifted_by,
        )


@strawberry.type(description="A correction of a victim's details: which fields, by whom, when; never the values.")
class RectificationType:
    id: strawberry.ID
    victim_id: strawberry.ID
    fields: list[str]
    rectified_at: datetime
    rectified_by: str

    @classmethod
    def from_row(cls, row: Rectification) -> RectificationType:
        return cls(
            id=strawberry.ID(str(row.id)),
            victim_id=strawberry.ID(str(row.victim_id)),
            fields=list(row.fields),
            rectified_at=row.rectified_at,
            rectified_by=row.rectified_by,
        )
