"""Adding to an existing referral: a consent recorded with its victim, and a draft task for another provider.

A referral grows as the co-ordinator learns more (a self-referral triaged before consent was taken, a need found
later), so neither needs the victim typed in again: both act on the referral the Hub already owns.
"""

from __future__ import annotations

from sqlmodel import col, select

from gateway.auth.principal import Principal, Scope
from gateway.clock import utc_now
from gateway.consent.models import Consent
from gateway.consent.service import ConsentInput, ConsentState, consent_standing, record_consent
from gateway.db import AsyncSession
from gateway.errors import ConsentRequired
from gateway.idempotency.service import claim_for, remember_result
from gateway.kit import require
from gateway.referrals.models import ReferralTask
from gateway.referrals.service.access import (
    hub_tasks,
    load_own_referral,
    load_task,
    require_referrer,
)
from gateway.referrals.service.create import add_draft_task
from gateway.referrals.service.eligibility import provider_target


async def record_referral_consent(
    *, db: AsyncSession, actor: Principal, referral_id: int, consent: ConsentInput, idempotency_key: str
) -> Consent:
    """The Hub records a consent given by (or for) the victim of one of its own referrals."""
    require(actor, Scope.REFERRALS_WRITE)
    await require_referrer(db, actor)
    # The referral is looked up among the actor's own first: another Hub's referral is not found, whatever its id.
    referral = await load_own_referral(db, actor, referral_id)
    return await record_consent(
        db=db, actor=actor, victim_id=referral.victim_id, consent=consent, idempotency_key=idempotency_key
    )


async def add_referral_task(
    *, db: AsyncSession, actor: Principal, referral_id: int, provider_slug: str, idempotency_key: str
) -> ReferralTask:
    """The Hub adds a draft task for a provider to its referral: a consent standing now must cover that provider,
    and the victim and case must meet the provider's eligibility, as when the referral was created."""
    require(actor, Scope.REFERRALS_WRITE)
    await require_referrer(db, actor)
    claim = await claim_for(
        db=db,
        actor=actor,
        operation="referral.add-task",
        key=idempotency_key,
        request={"referral_id": referral_id, "provider_slug": provider_slug},
    )
    if claim.replayed_result_id is not None:
        return await load_task(db, claim.replayed_result_id, hub_tasks(actor))
    referral = await load_own_referral(db, actor, referral_id)
    await provider_target(db, provider_slug)  # an unknown provider is a validation error, not missing consent
    consents = (
        await db.exec(
            select(Consent).where(
                col(Consent.victim_id) == referral.victim_id,
                col(Consent.hub_organisation_id) == actor.organisation_id,
            )
        )
    ).all()
    if consent_standing(consents, provider_slug=provider_slug, now=utc_now()).state is not ConsentState.VALID:
        raise ConsentRequired("Record a consent covering this provider before adding it to the referral.")
    task = await add_draft_task(db, actor=actor, referral=referral, slug=provider_slug)
    assert task.id is not None
    await remember_result(db=db, claim=claim, result_id=task.id)
    return task
