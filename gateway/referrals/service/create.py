"""Creating referrals: the victim, their case and consents, and a draft task per eligible provider; nothing is sent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.clock import utc_now
from gateway.consent.models import Consent
from gateway.consent.service import ConsentInput, new_consent, validate_consent_input
from gateway.db import AsyncSession
from gateway.errors import InvalidTransition, ValidationFailed
from gateway.idempotency.service import claim_for, remember_result
from gateway.kit import get_or_not_found, require
from gateway.organisations.models import Organisation
from gateway.referrals.models import (
    TERMINAL_STATUSES,
    ArrivalRoute,
    Case,
    DomesticAbuseRisk,
    Referral,
    ReferralTask,
    TaskStatus,
)
from gateway.referrals.service.access import (
    PURPOSE_REFERRAL,
    hub_tasks,
    load_own_referral,
    load_task,
    require_referrer,
)
from gateway.referrals.service.eligibility import (
    check_eligibility,
    checked_target,
    organisations_by_slug,
    provider_target,
)
from gateway.victims.models import Victim
from gateway.victims.service import VictimInput, new_victim, validate_victim_input
from providers.profile import CrimeCategory, Need


@dataclass(frozen=True, slots=True)
class CaseInput:
    arrival_route: ArrivalRoute
    reported_to_police: bool
    crime_category: CrimeCategory
    domestic_abuse_risk: DomesticAbuseRisk
    needs: frozenset[Need]
    crime_reference: str | None = None
    priority_most_serious_crime: bool = False
    priority_persistently_targeted: bool = False
    priority_vulnerable_or_intimidated: bool = False
    assessment_notes: str | None = None


def validate_case_input(case: CaseInput) -> None:
    """Raise ValidationFailed naming the first inconsistency in the case."""
    if case.crime_reference is not None and not case.reported_to_police:
        raise ValidationFailed("A crime reference needs the crime to have been reported to police.")
    if case.crime_reference is not None and not case.crime_reference.strip():
        raise ValidationFailed("A crime reference, when given, must not be blank.")
    if case.crime_category is CrimeCategory.DOMESTIC_ABUSE and case.domestic_abuse_risk is DomesticAbuseRisk.NONE:
        raise ValidationFailed("A domestic-abuse case needs a risk level: standard, medium or high.")


def new_case(case: CaseInput, *, hub_organisation_id: int, victim_id: int) -> Case:
    """A case row from validated input, for the victim."""
    return Case(
        hub_organisation_id=hub_organisation_id,
        victim_id=victim_id,
        arrival_route=case.arrival_route.value,
        reported_to_police=case.reported_to_police,
        crime_reference=case.crime_reference,
        crime_category=case.crime_category.value,
        domestic_abuse_risk=case.domestic_abuse_risk.value,
        priority_most_serious_crime=case.priority_most_serious_crime,
        priority_persistently_targeted=case.priority_persistently_targeted,
        priority_vulnerable_or_intimidated=case.priority_vulnerable_or_intimidated,
        needs=sorted(need.value for need in case.needs),
        assessment_notes=case.assessment_notes,
    )


def _draft(
    referral: Referral,
    case: Case,
    victim: Victim,
    organisation: Organisation,
    slug: str,
    reference: str,
    *,
    replaces_task_id: int | None = None,
) -> ReferralTask:
    assert referral.id is not None and organisation.id is not None and case.id is not None and victim.id is not None
    return ReferralTask(
        reference=reference,
        referral_id=referral.id,
        hub_organisation_id=referral.hub_organisation_id,
        provider_organisation_id=organisation.id,
        provider_slug=slug,
        victim_id=victim.id,
        case_id=case.id,
        status=TaskStatus.DRAFT.value,
        replaces_task_id=replaces_task_id,
    )


async def _task_reference(db: AsyncSession, referral: Referral, slug: str) -> str:
    earlier = (
        await db.exec(
            select(func.count())
            .select_from(ReferralTask)
            .where(col(ReferralTask.referral_id) == referral.id, col(ReferralTask.provider_slug) == slug)
        )
    ).one()
    suffix = "" if earlier == 0 else f"-{earlier + 1}"
    return f"{referral.reference}-{slug.upper()}{suffix}"


async def new_draft_task(
    db: AsyncSession,
    *,
    referral: Referral,
    case: Case,
    victim: Victim,
    slug: str,
    replaces_task_id: int | None = None,
) -> ReferralTask:
    organisation, profile = await provider_target(db, slug)
    check_eligibility(profile, victim=victim, case=case, today=utc_now().date())
    unfinished = (
        await db.exec(
            select(ReferralTask.id).where(
                col(ReferralTask.referral_id) == referral.id,
                col(ReferralTask.provider_slug) == slug,
                col(ReferralTask.status).not_in([s.value for s in TERMINAL_STATUSES]),
            )
        )
    ).first()
    if unfinished is not None:
        raise ValidationFailed(f"This referral already has an unfinished task for {slug}.")
    reference = await _task_reference(db, referral, slug)
    task = _draft(referral, case, victim, organisation, slug, reference, replaces_task_id=replaces_task_id)
    db.add(task)
    await db.flush()
    return task


async def create_referral_rows(
    db: AsyncSession,
    *,
    actor: Principal,
    victim: Victim,
    case: CaseInput,
    consents: Sequence[ConsentInput],
    provider_slugs: Sequence[str],
    organisations: Mapping[str, Organisation] | None = None,
) -> tuple[Referral, Case, list[Consent], list[ReferralTask]]:
    """Insert a validated victim, case, consents, referral and draft tasks (distinct providers); the caller audits.
    `organisations`, when given, holds every provider organisation by slug (as organisations_by_slug reads them)."""
    if len(set(provider_slugs)) != len(provider_slugs):
        # Both callers refuse this first; the references below count on it.
        raise ValidationFailed("Each provider can appear only once in a referral.")
    if organisations is None:
        organisations = await organisations_by_slug(db, provider_slugs)
    db.add(victim)
    await db.flush()
    assert victim.id is not None
    case_row = new_case(case, hub_organisation_id=victim.hub_organisation_id, victim_id=victim.id)
    db.add(case_row)
    consent_rows = [new_consent(consent, victim=victim, actor=actor) for consent in consents]
    db.add_all(consent_rows)
    assert victim.id is not None
    await db.flush()
    assert case_row.id is not None
    # The number comes from the row id, known only after insert; a unique placeholder holds the slot until then.
    referral = Referral(
        reference=f"pending-{uuid.uuid4().hex}",
        hub_organisation_id=actor.organisation_id,
        case_id=case_row.id,
        victim_id=victim.id,
        created_by=actor.actor_label,
    )
    db.add(referral)
    await db.flush()
    referral.reference = f"REF-{referral.created_at.year}-{referral.id:06d}"
    today = utc_now().date()
    tasks = []
    # The referral is new and the providers distinct, so no task is unfinished or earlier for any of them: each
    # gets the first reference, and every draft goes in with the reference in one flush.
    for slug in provider_slugs:
        organisation, profile = checked_target(slug, organisations.get(slug))
        check_eligibility(profile, victim=victim, case=case_row, today=today)
        tasks.append(_draft(referral, case_row, victim, organisation, slug, f"{referral.reference}-{slug.upper()}"))
    db.add_all(tasks)
    await db.flush()
    return referral, case_row, consent_rows, tasks


def check_referral_input(
    *,
    victim: VictimInput,
    case: CaseInput,
    consents: Sequence[ConsentInput],
    provider_slugs: Sequence[str],
    now: datetime,
) -> None:
    """Every check of a new referral's input that needs no database, in the order createReferral words them;
    ValidationFailed names the first problem. The compiled createReferral (gateway/referrals/compiled/create.py)
    runs these same checks before its statement."""
    validate_victim_input(victim, today=now.date())
    validate_case_input(case)
    for consent in consents:
        validate_consent_input(consent, victim_has_guardian=victim.guardian is not None, now=now)
    if len(set(provider_slugs)) != len(provider_slugs):
        raise ValidationFailed("Each provider can appear only once in a referral.")


async def create_referral(
    *,
    db: AsyncSession,
    actor: Principal,
    victim: VictimInput,
    case: CaseInput,
    consents: Sequence[ConsentInput],
    provider_slugs: Sequence[str],
    idempotency_key: str,
) -> Referral:
    """The Hub records a victim, their case and consents, and a draft task per eligible provider; nothing is sent."""
    require(actor, Scope.REFERRALS_WRITE)
    # One read for the providers and the caller's own organisation, which require_referrer then finds in the session.
    organisations = await organisations_by_slug(db, provider_slugs, also_id=actor.organisation_id)
    await require_referrer(db, actor)
    claim = await claim_for(
        db=db,
        actor=actor,
        operation="referral.create",
        key=idempotency_key,
        request={"victim": victim, "case": case, "consents": list(consents), "providers": list(provider_slugs)},
    )
    if claim.replayed_result_id is not None:
        return await load_own_referral(db, actor, claim.replayed_result_id)
    check_referral_input(victim=victim, case=case, consents=consents, provider_slugs=provider_slugs, now=utc_now())
    victim_row = new_victim(victim, hub_organisation_id=actor.organisation_id)
    referral, case_row, consent_rows, tasks = await create_referral_rows(
        db,
        actor=actor,
        victim=victim_row,
        case=case,
        consents=consents,
        provider_slugs=provider_slugs,
        organisations=organisations,
    )
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.COLLECTION,
                action="referral.create",
                purpose=PURPOSE_REFERRAL,
                victim_id=victim_row.id,
                subject_ids={
                    "victim": victim_row.id,
                    "case": case_row.id,
                    "referral": referral.id,
                    "consents": [c.id for c in consent_rows],
                    "tasks": [t.id for t in tasks],
                },
            )
        ],
    )
    assert referral.id is not None
    await remember_result(db=db, claim=claim, result_id=referral.id)
    return referral


async def add_draft_task(
    db: AsyncSession, *, actor: Principal, referral: Referral, slug: str, replaces_task_id: int | None = None
) -> ReferralTask:
    """A new draft task on an existing referral (another provider, or a follow-up), audited as `task.add`."""
    case = await get_or_not_found(db, Case, referral.case_id)
    victim = await get_or_not_found(db, Victim, referral.victim_id)
    task = await new_draft_task(
        db, referral=referral, case=case, victim=victim, slug=slug, replaces_task_id=replaces_task_id
    )
    subjects = {"referral": referral.id, "task": task.id}
    if replaces_task_id is not None:
        subjects["replaces_task"] = replaces_task_id
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.ALTERATION,
                action="task.add",
                purpose=PURPOSE_REFERRAL,
                victim_id=task.victim_id,
                subject_ids=subjects,
            )
        ],
    )
    return task


async def create_follow_up_task(
    *, db: AsyncSession, actor: Principal, task_id: int, provider_slug: str, idempotency_key: str
) -> ReferralTask:
    """Re-routing or reopening never revives a finished task: it makes a new draft linked to the old one."""
    require(actor, Scope.REFERRALS_WRITE)
    claim = await claim_for(
        db=db,
        actor=actor,
        operation="task.follow-up",
        key=idempotency_key,
        request={"task_id": task_id, "provider_slug": provider_slug},
    )
    if claim.replayed_result_id is not None:
        return await load_task(db, claim.replayed_result_id, hub_tasks(actor))
    old = await load_task(db, task_id, hub_tasks(actor))
    if old.status not in TERMINAL_STATUSES or old.status == TaskStatus.ENTERED_IN_ERROR:
        raise InvalidTransition("Only a rejected, cancelled, completed or failed task can be followed up.")
    referral = await load_own_referral(db, actor, old.referral_id)
    task = await add_draft_task(db, actor=actor, referral=referral, slug=provider_slug, replaces_task_id=old.id)
    assert task.id is not None
    await remember_result(db=db, claim=claim, result_id=task.id)
    return task
