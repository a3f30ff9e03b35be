"""Sending a draft to its provider: the disclosure, under consent covering it or a justified safeguarding override."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord
from gateway.auth.principal import Principal, Scope
from gateway.clock import utc_now
from gateway.consent.models import Consent
from gateway.consent.service import ConsentStanding, ConsentState, consent_standing
from gateway.db import AsyncSession
from gateway.errors import ConsentRequired, OverrideJustificationRequired, ValidationFailed
from gateway.events.models import EventType
from gateway.idempotency.service import claim_for
from gateway.kit import get_or_not_found, require
from gateway.referrals.models import Case, ReferralTask, TaskStatus
from gateway.referrals.service.access import PURPOSE_REFERRAL, PURPOSE_SAFEGUARDING, hub_tasks, load_task
from gateway.referrals.service.changes import after_change, apply_transition, check_can_move
from gateway.referrals.service.eligibility import check_eligibility
from gateway.victims.models import Victim
from providers.registry import get_profile

# The gateway's own target for a provider to accept or reject; profiles set only the first-contact target.
ACCEPT_TARGET = timedelta(hours=24)
# A safeguarding override must say why in words a reviewer can weigh, not "urgent" or "see notes".
MIN_OVERRIDE_JUSTIFICATION_CHARS = 50


async def _locked_consents(db: AsyncSession, victim_id: int) -> list[Consent]:
    # FOR UPDATE makes a concurrent withdrawal either finish first (and be seen here) or wait for this send
    # to commit (and then cancel the task it sent). SQLite has one writer at a time and ignores the clause.
    found = await db.exec(
        select(Consent)
        .where(col(Consent.victim_id) == victim_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(found.all())


def _consent_refusal(standing: ConsentStanding) -> ConsentRequired:
    messages = {
        ConsentState.WITHDRAWN: "Consent covering this provider was withdrawn.",
        ConsentState.EXPIRED: "Consent covering this provider has expired.",
    }
    return ConsentRequired(messages.get(standing.state, "There is no consent covering this provider."))


def _override_values(actor: Principal, standing: ConsentStanding, justification: str) -> dict[str, Any]:
    if standing.state is ConsentState.VALID:
        raise ValidationFailed("Consent covers this provider; a safeguarding override is not needed.")
    if len(" ".join(justification.split())) < MIN_OVERRIDE_JUSTIFICATION_CHARS:
        raise OverrideJustificationRequired(
            f"A safeguarding override needs a written justification of at least "
            f"{MIN_OVERRIDE_JUSTIFICATION_CHARS} characters."
        )
    return {
        "safeguarding_override": True,
        "override_justification": justification.strip(),
        "override_by": actor.actor_label,
    }


async def send_task(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    idempotency_key: str,
    safeguarding_justification: str | None = None,
) -> ReferralTask:
    """A draft goes to its provider only with valid consent covering it, or a justified safeguarding override."""
    require(actor, Scope.REFERRALS_WRITE)
    overriding = safeguarding_justification is not None
    if overriding:
        require(actor, Scope.CONSENT_OVERRIDE)
    claim = await claim_for(
        db=db,
        actor=actor,
        operation="task.send",
        key=idempotency_key,
        request={"task_id": task_id, "expected_version": expected_version, "justification": safeguarding_justification},
    )
    if claim.replayed_result_id is not None:
        return await load_task(db, claim.replayed_result_id, hub_tasks(actor))
    task = await load_task(db, task_id, hub_tasks(actor))
    check_can_move(task, expected_version, TaskStatus.REQUESTED)
    victim = await get_or_not_found(db, Victim, task.victim_id)
    case = await get_or_not_found(db, Case, task.case_id)
    profile = get_profile(task.provider_slug)
    assert profile is not None
    now = utc_now()
    check_eligibility(profile, victim=victim, case=case, today=now.date())

    standing = consent_standing(await _locked_consents(db, task.victim_id), provider_slug=task.provider_slug, now=now)
    values: dict[str, Any] = {
        "requested_at": now,
        "accept_due_at": now + ACCEPT_TARGET,
        "first_contact_due_at": now + timedelta(hours=profile.first_contact_target_hours),
    }
    if safeguarding_justification is not None:
        values |= _override_values(actor, standing, safeguarding_justification)
    elif standing.state is not ConsentState.VALID or standing.consent is None:
        raise _consent_refusal(standing)
    else:
        values["consent_id"] = standing.consent.id

    await apply_transition(db, task, expected_version, TaskStatus.REQUESTED, None, values, hub_tasks(actor))
    await after_change(
        db,
        actor,
        claim,
        task,
        event=EventType.TASK_REQUESTED,
        notify=task.provider_organisation_id,
        audit=AuditRecord(
            category=AuditCategory.DISCLOSURE,
            action="task.send",
            purpose=PURPOSE_SAFEGUARDING if overriding else PURPOSE_REFERRAL,
            victim_id=task.victim_id,
            subject_ids={"victim": task.victim_id, "task": task.id, "consent": values.get("consent_id")},
            recipient_organisation_id=task.provider_organisation_id,
            safeguarding_override=overriding,
        ),
    )
    return task
