"""Rules for consent: what a valid record holds, whether it covers a provider now, and the Hub's records of it.

Withdrawal cancels referral tasks, so it is a referral rule: gateway.referrals.service.withdraw_consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.clock import ALLOWED_CLOCK_SKEW, as_utc, utc_now
from gateway.consent.models import Consent, ConsentMethod
from gateway.db import AsyncSession
from gateway.errors import ValidationFailed
from gateway.idempotency.service import claim_for, remember_result
from gateway.kit import first_or_not_found, require
from gateway.victims.models import ConsentGiver, Victim
from providers.profile import VictimField
from providers.registry import all_profiles

PURPOSE_CONSENT = "consent-management"


@dataclass(frozen=True, slots=True)
class ConsentInput:
    given_by: ConsentGiver
    method: ConsentMethod
    given_at: datetime
    provider_slugs: frozenset[str]
    data_categories: frozenset[VictimField]
    statistics_consent: bool
    withheld_information: str | None = None
    withheld_reason: str | None = None
    expires_at: datetime | None = None


class ConsentState(StrEnum):
    VALID = "valid"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    NONE = "none"
    # Never a standing of a consent: what a task sent under a safeguarding override shows in place of one.
    SAFEGUARDING_OVERRIDE = "safeguarding-override"


@dataclass(frozen=True, slots=True)
class ConsentStanding:
    """Whether a provider may receive a victim's details under consent now, and the record that says so."""

    state: ConsentState
    consent: Consent | None = None
    latest_withdrawal_at: datetime | None = None
    covering: tuple[Consent, ...] = field(default=())


def consent_standing(consents: Iterable[Consent], *, provider_slug: str, now: datetime) -> ConsentStanding:
    """A withdrawal outranks every consent recorded before it; only a consent recorded afterwards restores sharing."""
    covering = tuple(c for c in consents if provider_slug in c.provider_slugs)
    withdrawals = [as_utc(c.withdrawn_at) for c in covering if c.withdrawn_at is not None]
    latest_withdrawal = max(withdrawals) if withdrawals else None
    standing = [
        c
        for c in covering
        if c.withdrawn_at is None and (latest_withdrawal is None or as_utc(c.recorded_at) > latest_withdrawal)
    ]
    unexpired = [c for c in standing if c.expires_at is None or as_utc(c.expires_at) > as_utc(now)]
    if unexpired:
        newest = max(unexpired, key=lambda c: (as_utc(c.recorded_at), c.id or 0))
        return ConsentStanding(ConsentState.VALID, newest, latest_withdrawal, covering)
    if standing:
        return ConsentStanding(ConsentState.EXPIRED, None, latest_withdrawal, covering)
    if latest_withdrawal is not None:
        return ConsentStanding(ConsentState.WITHDRAWN, None, latest_withdrawal, covering)
    return ConsentStanding(ConsentState.NONE, None, None, covering)


def validate_consent_input(consent: ConsentInput, *, victim_has_guardian: bool, now: datetime) -> None:
    """Raise ValidationFailed naming the first fault of a consent record."""
    if not consent.provider_slugs:
        raise ValidationFailed("Consent must name at least one provider.")
    unknown = sorted(slug for slug in consent.provider_slugs if slug not in all_profiles())
    if unknown:
        raise ValidationFailed(f"Consent names unknown providers: {', '.join(unknown)}.")
    if not consent.data_categories:
        raise ValidationFailed("Consent must name at least one category of data.")
    if as_utc(consent.given_at) > as_utc(now) + ALLOWED_CLOCK_SKEW:
        raise ValidationFailed("Consent cannot be given in the future.")
    if consent.expires_at is not None and as_utc(consent.expires_at) <= as_utc(consent.given_at):
        raise ValidationFailed("Consent must expire after it was given.")
    if bool(consent.withheld_information and consent.withheld_information.strip()) != bool(
        consent.withheld_reason and consent.withheld_reason.strip()
    ):
        raise ValidationFailed("Information withheld and the reason for withholding it go together.")
    if consent.given_by is ConsentGiver.GUARDIAN and not victim_has_guardian:
        raise ValidationFailed("Consent given by a guardian needs the guardian recorded on the victim.")


def new_consent(consent: ConsentInput, *, victim: Victim, actor: Principal) -> Consent:
    """A consent row from validated input, recorded by the actor now."""
    assert victim.id is not None
    return consent_row(
        consent, hub_organisation_id=victim.hub_organisation_id, victim_id=victim.id, recorded_by=actor.actor_label
    )


def consent_row(consent: ConsentInput, *, hub_organisation_id: int, victim_id: int, recorded_by: str) -> Consent:
    """A consent row from validated input, recorded now by `recorded_by` (an actor label)."""
    return Consent(
        hub_organisation_id=hub_organisation_id,
        victim_id=victim_id,
        given_by=consent.given_by.value,
        method=consent.method.value,
        given_at=as_utc(consent.given_at),
        recorded_by=recorded_by,
        provider_slugs=sorted(consent.provider_slugs),
        data_categories=sorted(f.value for f in consent.data_categories),
        withheld_information=consent.withheld_information,
        withheld_reason=consent.withheld_reason,
        statistics_consent=consent.statistics_consent,
        expires_at=as_utc(consent.expires_at) if consent.expires_at else None,
    )


async def load_own_consent(db: AsyncSession, actor: Principal, consent_id: int) -> Consent:
    """One of the actor's Hub's consent records, or NotFound."""
    return await first_or_not_found(
        db, select(Consent).where(Consent.id == consent_id, Consent.hub_organisation_id == actor.organisation_id)
    )


async def record_consent(
    *, db: AsyncSession, actor: Principal, victim_id: int, consent: ConsentInput, idempotency_key: str
) -> Consent:
    """The Hub records a consent for one of its own victims; the actor is recorded as who took it."""
    require(actor, Scope.REFERRALS_WRITE)
    claim = await claim_for(
        db=db,
        actor=actor,
        operation="consent.record",
        key=idempotency_key,
        request={"victim_id": victim_id, "consent": consent},
    )
    if claim.replayed_result_id is not None:
        return await load_own_consent(db, actor, claim.replayed_result_id)
    victim = await first_or_not_found(
        db, select(Victim).where(Victim.id == victim_id, Victim.hub_organisation_id == actor.organisation_id)
    )
    validate_consent_input(consent, victim_has_guardian=victim.guardian_name is not None, now=utc_now())
    row = new_consent(consent, victim=victim, actor=actor)
    db.add(row)
    await db.flush()
    assert row.id is not None
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.COLLECTION,
                action="consent.record",
                purpose=PURPOSE_CONSENT,
                victim_id=victim_id,
                subject_ids={"victim": victim_id, "consent": row.id},
            )
        ],
    )
    await remember_result(db=db, claim=claim, result_id=row.id)
    return row


async def load_consents_for_victims(
    *, db: AsyncSession, actor: Principal, victim_ids: Sequence[int]
) -> dict[int, list[Consent]]:
    """The Hub's consent records for its own victims, in one query, newest first."""
    require(actor, Scope.REFERRALS_READ)
    found: dict[int, list[Consent]] = {victim_id: [] for victim_id in victim_ids}
    if not victim_ids:
        return found
    rows = await db.exec(
        select(Consent)
        .where(col(Consent.victim_id).in_(set(victim_ids)), Consent.hub_organisation_id == actor.organisation_id)
        .order_by(col(Consent.recorded_at).desc(), col(Consent.id).desc())
    )
    read_victims: set[int] = set()
    for consent in rows.all():
        found[consent.victim_id].append(consent)
        read_victims.add(consent.victim_id)
    # Consent records name the guardian's role and what was withheld and why: reading them is a consultation.
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.CONSULTATION,
                action="consent.read",
                purpose=PURPOSE_CONSENT,
                victim_id=victim_id,
                subject_ids={"victim": victim_id, "consents": [c.id for c in found[victim_id]]},
            )
            for victim_id in sorted(read_victims)
        ],
    )
    return found
