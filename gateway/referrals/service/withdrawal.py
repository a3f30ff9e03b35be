"""Withdrawing consent, and what it does to referrals: the covered open tasks are cancelled and their providers told."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.clock import utc_now
from gateway.consent.models import Consent
from gateway.consent.service import PURPOSE_CONSENT, load_own_consent
from gateway.db import AsyncSession
from gateway.errors import Conflict, InvalidTransition
from gateway.events.models import EventType
from gateway.events.service import record_event
from gateway.idempotency.service import claim_for, remember_result
from gateway.kit import require
from gateway.referrals.models import OPEN_STATUSES, CancelReason, ReferralTask, TaskStatus


async def _tell_providers(
    db: AsyncSession, consent_id: int, sent_tasks: Sequence[ReferralTask], cancelled_ids: list[int]
) -> None:
    # Only providers that were ever sent this victim hear of the withdrawal; others never knew of them.
    tasks_by_provider: dict[int, list[int]] = defaultdict(list)
    for task in sent_tasks:
        assert task.id is not None
        tasks_by_provider[task.provider_organisation_id].append(task.id)
    for provider_organisation_id, task_ids in sorted(tasks_by_provider.items()):
        await record_event(
            db=db,
            event_type=EventType.CONSENT_WITHDRAWN,
            organisation_id=provider_organisation_id,
            subject_ids={
                "consent": consent_id,
                "task_ids": sorted(task_ids),
                "cancelled_task_ids": [t for t in sorted(task_ids) if t in cancelled_ids],
            },
        )


async def withdraw_consent(*, db: AsyncSession, actor: Principal, consent_id: int, idempotency_key: str) -> Consent:
    """Withdrawal is immediate: covered providers' open tasks are cancelled, they are told, and it is audited."""
    require(actor, Scope.REFERRALS_WRITE)
    claim = await claim_for(
        db=db, actor=actor, operation="consent.withdraw", key=idempotency_key, request={"consent_id": consent_id}
    )
    if claim.replayed_result_id is not None:
        return await load_own_consent(db, actor, claim.replayed_result_id)
    consent = await load_own_consent(db, actor, consent_id)
    if consent.withdrawn_at is not None:
        raise InvalidTransition("This consent is already withdrawn.")
    now = utc_now()
    withdrawn = await db.exec(
        sa.update(Consent)
        .where(col(Consent.id) == consent_id, col(Consent.withdrawn_at).is_(None))
        .values(withdrawn_at=now, withdrawn_by=actor.actor_label)
        .execution_options(synchronize_session=False)
    )
    if withdrawn.rowcount != 1:
        raise Conflict()
    await db.refresh(consent)

    covered_tasks = (
        col(ReferralTask.victim_id) == consent.victim_id,
        col(ReferralTask.hub_organisation_id) == actor.organisation_id,
        col(ReferralTask.provider_slug).in_(consent.provider_slugs),
    )
    cancelled_rows = (
        await db.exec(
            sa.update(ReferralTask)
            .where(*covered_tasks, col(ReferralTask.status).in_([s.value for s in OPEN_STATUSES]))
            .values(
                status=TaskStatus.CANCELLED.value,
                status_reason=CancelReason.CONSENT_WITHDRAWN.value,
                version=col(ReferralTask.version) + 1,
                updated_at=now,
                closed_at=now,
            )
            .returning(col(ReferralTask.id))
            .execution_options(synchronize_session=False)
        )
    ).all()
    cancelled_ids = sorted(int(row[0]) for row in cancelled_rows)
    # Refresh any task objects the caller already holds, so nobody acts on a stale status.
    sent_tasks = (
        await db.exec(
            select(ReferralTask)
            .where(*covered_tasks, col(ReferralTask.status) != TaskStatus.DRAFT.value)
            .execution_options(populate_existing=True)
        )
    ).all()
    await _tell_providers(db, consent_id, sent_tasks, cancelled_ids)
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.ALTERATION,
                action="consent.withdraw",
                purpose=PURPOSE_CONSENT,
                victim_id=consent.victim_id,
                subject_ids={"victim": consent.victim_id, "consent": consent_id, "cancelled_task_ids": cancelled_ids},
            )
        ],
    )
    await remember_result(db=db, claim=claim, result_id=consent_id)
    return consent
