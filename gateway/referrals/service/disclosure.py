"""What a provider is shown on its tasks: the consent standing behind each, and the victim as that consent allows.

Standing is worked out on every read from the consent rows, so a withdrawal shows on the very next read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, queue_audit
from gateway.auth.principal import Principal, Scope
from gateway.clock import as_utc, utc_now
from gateway.consent.models import Consent
from gateway.consent.service import ConsentStanding, ConsentState, consent_standing
from gateway.db import AsyncSession
from gateway.errors import NotFound
from gateway.kit import require
from gateway.referrals.models import ReferralTask, TaskStatus
from gateway.referrals.service.access import PURPOSE_SAFEGUARDING, PURPOSE_SUPPORT, TASKS, provider_tasks, rows
from gateway.referrals.service.projection import (
    CASES,
    VICTIMS,
    ProviderVictimView,
    covered_fields,
    project,
    redacted_view,
    victim_columns,
)
from providers.profile import VictimField
from providers.registry import get_profile

_CONSENTS: sa.Table = Consent.__table__  # type: ignore[attr-defined]
_TASK_STANDING_COLUMNS = (
    TASKS.c.id,
    TASKS.c.victim_id,
    TASKS.c.case_id,
    TASKS.c.provider_slug,
    TASKS.c.status,
    TASKS.c.safeguarding_override,
    TASKS.c.requested_at,
)
_CONSENT_TERMS_COLUMNS = tuple(
    _CONSENTS.c[name]
    for name in (
        "id",
        "victim_id",
        "provider_slugs",
        "data_categories",
        "given_by",
        "method",
        "given_at",
        "recorded_at",
        "expires_at",
        "withdrawn_at",
    )
)
_REDACTION_REASONS = {ConsentState.WITHDRAWN: "consent-withdrawn", ConsentState.EXPIRED: "consent-expired"}


@dataclass(frozen=True, slots=True)
class TaskConsentSummary:
    """What a provider is told about the consent behind a task: its standing and terms, no free text."""

    task_id: int
    state: str  # valid | withdrawn | expired | none | safeguarding-override
    consent_id: int | None = None
    given_by: str | None = None
    method: str | None = None
    given_at: datetime | None = None
    expires_at: datetime | None = None
    data_categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskConsentContext:
    """What the standing of consent on one of a provider's tasks is worked out from, read in this request."""

    task: Any  # a row of _TASK_STANDING_COLUMNS
    consents: tuple[Any, ...]  # rows of _CONSENT_TERMS_COLUMNS: every consent recorded for the task's victim


async def _consents_by_victim(db: AsyncSession, victim_ids: set[int]) -> dict[int, list[Any]]:
    """The consent terms recorded for each victim, as rows (consent_standing reads only these columns)."""
    found: dict[int, list[Any]] = defaultdict(list)
    if victim_ids:
        statement = sa.select(*_CONSENT_TERMS_COLUMNS).where(col(Consent.victim_id).in_(victim_ids))
        for consent in await rows(db, statement):
            found[consent.victim_id].append(consent)
    return found


async def load_consent_contexts_for_tasks(
    *, db: AsyncSession, actor: Principal, task_ids: Sequence[int]
) -> dict[int, TaskConsentContext]:
    """For the provider's own tasks among task_ids (authorised in the WHERE clause), the task and the consent
    rows of its victim, in two queries. A request showing both the victim and the consent of a page of tasks
    reads these once and works out both from them."""
    require(actor, Scope.TASKS_READ)
    if not task_ids:
        return {}
    statement = sa.select(*_TASK_STANDING_COLUMNS).where(col(ReferralTask.id).in_(set(task_ids)), provider_tasks(actor))
    tasks = {row.id: row for row in await rows(db, statement)}
    consents = await _consents_by_victim(db, {t.victim_id for t in tasks.values()})
    return {task_id: TaskConsentContext(task, tuple(consents[task.victim_id])) for task_id, task in tasks.items()}


def _withdrawn_since_sent(standing: ConsentStanding, task: Any) -> bool:
    return (
        standing.latest_withdrawal_at is not None
        and task.requested_at is not None
        and standing.latest_withdrawal_at >= as_utc(task.requested_at)
    )


async def load_consent_summaries_for_tasks(
    *,
    db: AsyncSession,
    actor: Principal,
    task_ids: Sequence[int],
    contexts: dict[int, TaskConsentContext] | None = None,
) -> dict[int, TaskConsentSummary]:
    """For a provider's own sent tasks, the standing and terms of the consent now.

    `contexts` are what load_consent_contexts_for_tasks returned for these tasks in this request, when the
    caller already has them; without them they are read here.
    """
    require(actor, Scope.TASKS_READ)
    if not task_ids:
        return {}
    if contexts is None:
        contexts = await load_consent_contexts_for_tasks(db=db, actor=actor, task_ids=task_ids)
    now = utc_now()
    found: dict[int, TaskConsentSummary] = {}
    for task_id in task_ids:
        context = contexts.get(task_id)
        if context is None:
            continue  # not this provider's task
        task = context.task
        standing = consent_standing(context.consents, provider_slug=task.provider_slug, now=now)
        consent = standing.consent
        if consent is not None:
            found[task_id] = TaskConsentSummary(
                task_id=task_id,
                state=standing.state.value,
                consent_id=consent.id,
                given_by=consent.given_by,
                method=consent.method,
                given_at=consent.given_at,
                expires_at=consent.expires_at,
                data_categories=tuple(consent.data_categories),
            )
        elif task.safeguarding_override and not _withdrawn_since_sent(standing, task):
            found[task_id] = TaskConsentSummary(task_id=task_id, state="safeguarding-override")
        else:
            found[task_id] = TaskConsentSummary(task_id=task_id, state=standing.state.value)
    return found


async def _victim_details(
    db: AsyncSession, actor: Principal, tasks: dict[int, TaskConsentContext], wanted: frozenset[VictimField] | None
) -> dict[int, Any]:
    """One query for only the victim and case columns the providers' profiles allow, authorised again in its WHERE."""
    columns = victim_columns({c.task.provider_slug for c in tasks.values()}, wanted)
    statement = (
        sa.select(TASKS.c.id.label("task_id"), *columns)
        .select_from(TASKS)
        .join(VICTIMS, VICTIMS.c.id == TASKS.c.victim_id)
        .join(CASES, CASES.c.id == TASKS.c.case_id)
        .where(TASKS.c.id.in_(set(tasks)), provider_tasks(actor))
    )
    return {row.task_id: row for row in await rows(db, statement)}


async def load_victim_views_for_tasks(
    *,
    db: AsyncSession,
    actor: Principal,
    task_ids: Sequence[int],
    contexts: dict[int, TaskConsentContext] | None = None,
    wanted: frozenset[VictimField] | None = None,
) -> dict[int, ProviderVictimView]:
    """A provider sees only its profile's fields that consent covers, redacted with the reason once consent goes.

    Each unredacted view is logged as a disclosure to the provider, in this transaction (queued: the rows join the
    audit chain at the next append or at commit). The provider's own tasks and their consent rows come from
    `contexts` (load_consent_contexts_for_tasks, read here when not given); then one query reads only the victim
    and case columns its profile allows, joined to those tasks (authorised again in its WHERE clause). `wanted`
    narrows that to the fields a query selected (victim_fields_for_attributes); None reads every allowed field.
    """
    require(actor, Scope.TASKS_READ)
    if not task_ids:
        return {}
    if contexts is None:
        contexts = await load_consent_contexts_for_tasks(db=db, actor=actor, task_ids=task_ids)
    tasks = {task_id: contexts[task_id] for task_id in task_ids if task_id in contexts}
    if not tasks:
        return {}
    details = await _victim_details(db, actor, tasks, wanted)
    now = utc_now()
    views: dict[int, ProviderVictimView] = {}
    disclosures: list[AuditRecord] = []
    for task_id, context in sorted(tasks.items()):
        task = context.task
        if task_id not in details:
            continue  # no longer this provider's task when the victim was read
        profile = get_profile(task.provider_slug)
        assert profile is not None
        if task.status == TaskStatus.ENTERED_IN_ERROR.value:
            views[task_id] = redacted_view(task_id, TaskStatus.ENTERED_IN_ERROR.value)
            continue
        standing = consent_standing(context.consents, provider_slug=task.provider_slug, now=now)
        if standing.state is ConsentState.VALID and standing.consent is not None:
            allowed = profile.victim_fields & covered_fields(tuple(standing.consent.data_categories))
            override = False
        elif task.safeguarding_override and not _withdrawn_since_sent(standing, task):
            # Sharing without consent was justified for safeguarding; the profile still limits what goes.
            allowed, override = profile.victim_fields, True
        else:
            views[task_id] = redacted_view(task_id, _REDACTION_REASONS.get(standing.state, "no-consent"))
            continue
        views[task_id] = project(
            task_id, details[task_id], frozenset(allowed), override=override, today=now.date(), wanted=wanted
        )
        disclosures.append(
            AuditRecord(
                category=AuditCategory.DISCLOSURE,
                action="victim.view",
                purpose=PURPOSE_SAFEGUARDING if override else PURPOSE_SUPPORT,
                victim_id=task.victim_id,
                subject_ids={"victim": task.victim_id, "task": task_id},
                recipient_organisation_id=actor.organisation_id,
                safeguarding_override=override,
            )
        )
    queue_audit(db=db, actor=actor, records=disclosures)
    return views


async def get_victim_view_for_task(*, db: AsyncSession, actor: Principal, task_id: int) -> ProviderVictimView:
    """The provider's view of the victim on one of its sent tasks."""
    views = await load_victim_views_for_tasks(db=db, actor=actor, task_ids=[task_id])
    if task_id not in views:
        raise NotFound()
    return views[task_id]
