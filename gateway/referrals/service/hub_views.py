"""What the Hub's co-ordinators look at besides lists: one self-referral to triage, and finished work to re-route.

Both filter on the actor's Hub in SQL, like every read here: another Hub's item and a missing one are one NotFound.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.kit import first_or_not_found, page_size, require
from gateway.referrals.models import ReferralTask, SelfReferral, TaskStatus
from gateway.referrals.service.access import PURPOSE_INTAKE, hub_tasks

# Work a provider handed back: the Hub decides where it goes next. Cancelled work was the Hub's own decision.
REROUTABLE_STATUSES = (TaskStatus.REJECTED, TaskStatus.FAILED)


async def get_intake_item(*, db: AsyncSession, actor: Principal, self_referral_id: int) -> SelfReferral:
    """The Hub reads one of its own self-referrals (any status); the read is logged as a consultation."""
    require(actor, Scope.REFERRALS_READ)
    item = await first_or_not_found(
        db,
        select(SelfReferral).where(
            col(SelfReferral.id) == self_referral_id,
            col(SelfReferral.hub_organisation_id) == actor.organisation_id,
        ),
    )
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.CONSULTATION,
                action="self-referral.read",
                purpose=PURPOSE_INTAKE,
                subject_ids={"self_referral": item.id},
            )
        ],
    )
    return item


async def list_tasks_to_reroute(
    *, db: AsyncSession, actor: Principal, after_id: int | None = None, limit: int = 50
) -> list[ReferralTask]:
    """The Hub's rejected and failed tasks that no later task has replaced yet, oldest first, in one query."""
    require(actor, Scope.REFERRALS_READ)
    follow_up = aliased(ReferralTask)
    replaced = sa.exists().where(col(follow_up.replaces_task_id) == col(ReferralTask.id))
    query = select(ReferralTask).where(
        hub_tasks(actor),
        col(ReferralTask.status).in_([s.value for s in REROUTABLE_STATUSES]),
        ~replaced,
    )
    if after_id is not None:
        query = query.where(col(ReferralTask.id) > after_id)
    found = await db.exec(query.order_by(col(ReferralTask.id)).limit(page_size(limit)))
    return list(found.all())
