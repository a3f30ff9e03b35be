"""The audit trail for one victim or one organisation, paged and filtered by time and category."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.audit.models import AuditCategory, AuditEntry
from gateway.auth.principal import Principal, Scope
from gateway.data_protection.service.access import require_officer
from gateway.db import AsyncSession
from gateway.errors import ValidationFailed
from gateway.kit import first_or_not_found, page_size, require
from gateway.victims.models import Victim


async def audit_trail_page(
    *,
    db: AsyncSession,
    actor: Principal,
    victim_id: int | None = None,
    organisation_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    categories: Sequence[AuditCategory] = (),
    after_id: int | None = None,
    first: int = 50,
) -> list[AuditEntry]:
    """Log rows about one of the officer's organisation's victims, or by or to one organisation about them.

    Exactly one of victim and organisation; `since` inclusive, `until` exclusive; in the chain's order.
    """
    require_officer(actor)
    require(actor, Scope.AUDIT_READ)
    if (victim_id is None) == (organisation_id is None):
        raise ValidationFailed("Ask for the trail of one victim or of one organisation.")
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("`until` must be after `since`.")
    limit = page_size(first)
    ours = select(col(Victim.id)).where(Victim.hub_organisation_id == actor.organisation_id)
    statement = select(AuditEntry)
    if victim_id is not None:
        await first_or_not_found(db, ours.where(Victim.id == victim_id))
        statement = statement.where(AuditEntry.victim_id == victim_id)
    else:
        statement = statement.where(
            sa.or_(
                col(AuditEntry.actor_organisation_id) == organisation_id,
                col(AuditEntry.recipient_organisation_id) == organisation_id,
            ),
            # About the officer's own victims, or done by the officer's own organisation: no one else's business.
            sa.or_(
                col(AuditEntry.victim_id).in_(ours),
                col(AuditEntry.actor_organisation_id) == actor.organisation_id,
            ),
        )
    if since is not None:
        statement = statement.where(col(AuditEntry.occurred_at) >= since)
    if until is not None:
        statement = statement.where(col(AuditEntry.occurred_at) < until)
    if categories:
        statement = statement.where(col(AuditEntry.category).in_([c.value for c in categories]))
    if after_id is not None:
        statement = statement.where(col(AuditEntry.id) > after_id)
    rows = await db.exec(statement.order_by(col(AuditEntry.id)).limit(limit))
    return list(rows.all())
