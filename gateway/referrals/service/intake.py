"""Self-referral: the public form, the Hub's queue, and triage into a referral or a closed item."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.clock import utc_now
from gateway.consent.service import ConsentInput, validate_consent_input
from gateway.db import AsyncSession
from gateway.errors import Conflict, ConsentRequired, InvalidTransition, ValidationFailed
from gateway.idempotency.service import claim_for, claim_idempotency_key, remember_result
from gateway.kit import first_or_not_found, get_or_not_found, page_size, require
from gateway.organisations.models import Organisation
from gateway.organisations.service import HUB
from gateway.referrals.models import ArrivalRoute, IntakeStatus, SelfReferral
from gateway.referrals.service.access import PURPOSE_INTAKE, reason_code, require_referrer
from gateway.referrals.service.create import CaseInput, create_referral_rows, validate_case_input
from gateway.victims.service import (
    GuardianInput,
    SafeContact,
    VictimInput,
    new_victim,
    personal_details_of,
    safe_contact_columns,
    safe_contact_of,
    validate_victim_input,
)
from providers.profile import CrimeCategory, Need

CONFIRMATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread over the phone


@dataclass(frozen=True, slots=True)
class SelfReferralSubmission:
    given_name: str
    family_name: str
    consent_to_contact: bool
    date_of_birth: date | None = None
    address: str | None = None
    postcode: str | None = None
    phone: str | None = None
    email: str | None = None
    safe_contact: SafeContact = dataclasses.field(default_factory=SafeContact)
    language: str | None = None
    interpreter_needed: bool = False
    reported_to_police: bool | None = None
    crime_category: CrimeCategory | None = None
    needs: frozenset[Need] = frozenset()
    what_happened: str | None = None


class IntakeCloseReason(StrEnum):
    DUPLICATE = "duplicate"
    UNABLE_TO_CONTACT = "unable-to-contact"
    SUPPORT_DECLINED = "support-declined"
    REFERRED_ELSEWHERE = "referred-elsewhere"
    NOT_IN_AREA = "not-in-area"


def _confirmation_reference() -> str:
    return "SR-" + "".join(secrets.choice(CONFIRMATION_ALPHABET) for _ in range(10))


async def _hub_organisation(db: AsyncSession) -> Organisation:
    hub = (await db.exec(select(Organisation).where(col(Organisation.slug) == HUB.slug))).first()
    if hub is None or hub.id is None:
        raise ValidationFailed("Self-referral is not available.")
    return hub


def _intake_audit(item: SelfReferral, action: str, category: AuditCategory) -> AuditRecord:
    return AuditRecord(category=category, action=action, purpose=PURPOSE_INTAKE, subject_ids={"self_referral": item.id})


async def submit_self_referral(*, db: AsyncSession, submission: SelfReferralSubmission, idempotency_key: str) -> str:
    """Anyone may ask for support; it waits in the Hub's queue, and the answer is only a confirmation reference."""
    hub = await _hub_organisation(db)
    assert hub.id is not None
    claim = await claim_idempotency_key(
        db=db, organisation_id=hub.id, operation="self-referral.submit", key=idempotency_key, request={"s": submission}
    )
    if claim.replayed_result_id is not None:
        existing = await get_or_not_found(db, SelfReferral, claim.replayed_result_id)
        return existing.confirmation_reference
    if not submission.consent_to_contact:
        raise ValidationFailed("We can only take a self-referral with agreement to be contacted.")
    if not submission.given_name.strip() or not submission.family_name.strip():
        raise ValidationFailed("A name is required.")
    if not any((submission.phone, submission.email, submission.address, submission.safe_contact.safe_phone)):
        raise ValidationFailed("At least one way to contact you is required.")
    item = SelfReferral(
        confirmation_reference=_confirmation_reference(),
        hub_organisation_id=hub.id,
        status=IntakeStatus.NEW.value,
        given_name=submission.given_name.strip(),
        family_name=submission.family_name.strip(),
        **personal_details_of(submission),
        **safe_contact_columns(submission.safe_contact),
        consent_to_contact=True,
        reported_to_police=submission.reported_to_police,
        crime_category=submission.crime_category.value if submission.crime_category else None,
        needs=sorted(n.value for n in submission.needs),
        what_happened=submission.what_happened,
    )
    db.add(item)
    await db.flush()
    assert item.id is not None
    await append_audit(
        db=db, actor=None, records=[_intake_audit(item, "self-referral.submit", AuditCategory.COLLECTION)]
    )
    await remember_result(db=db, claim=claim, result_id=item.id)
    return item.confirmation_reference


async def list_intake_queue(
    *, db: AsyncSession, actor: Principal, after_id: int | None = None, limit: int = 50
) -> list[SelfReferral]:
    """The Hub's untriaged self-referrals, oldest first, each read logged as a consultation."""
    require(actor, Scope.REFERRALS_READ)
    query = select(SelfReferral).where(
        col(SelfReferral.hub_organisation_id) == actor.organisation_id,
        col(SelfReferral.status) == IntakeStatus.NEW.value,
    )
    if after_id is not None:
        query = query.where(col(SelfReferral.id) > after_id)
    items = list((await db.exec(query.order_by(col(SelfReferral.id)).limit(page_size(limit)))).all())
    await append_audit(
        db=db,
        actor=actor,
        records=[_intake_audit(item, "self-referral.read", AuditCategory.CONSULTATION) for item in items],
    )
    return items


@dataclass(frozen=True, slots=True)
class TriageReferral:
    """What the Hub adds to a self-referral to make it a referral: the case, and optionally consent and providers.

    Consent to be contacted is not consent to share: each provider named here needs one of `consents` covering it.
    Both may be left empty and added later (recordConsent, addReferralTask).
    """

    case: CaseInput
    guardian: GuardianInput | None = None
    consents: tuple[ConsentInput, ...] = ()
    provider_slugs: tuple[str, ...] = ()
    # The form does not ask for it; providers with an age range need it, so the call that takes consent can.
    date_of_birth: date | None = None


def _validate_triage(triage: TriageReferral, victim_input: VictimInput) -> None:
    """Raise the first fault of the case, the consents, or a provider no consent covers."""
    now = utc_now()
    validate_victim_input(victim_input, today=now.date())
    validate_case_input(triage.case)
    for consent in triage.consents:
        validate_consent_input(consent, victim_has_guardian=triage.guardian is not None, now=now)
    if len(set(triage.provider_slugs)) != len(triage.provider_slugs):
        raise ValidationFailed("Each provider can appear only once in a referral.")
    covered = {slug for consent in triage.consents for slug in consent.provider_slugs}
    if any(slug not in covered for slug in triage.provider_slugs):
        raise ConsentRequired("Each provider needs a consent given with the triage that covers it.")


async def _triage_into_referral(
    db: AsyncSession, actor: Principal, item: SelfReferral, triage: TriageReferral
) -> tuple[dict[str, Any], AuditRecord]:
    victim_input = VictimInput(
        given_name=item.given_name,
        family_name=item.family_name,
        guardian=triage.guardian,
        safe_contact=safe_contact_of(item),
        **(personal_details_of(item) | ({"date_of_birth": triage.date_of_birth} if triage.date_of_birth else {})),
    )
    case = dataclasses.replace(triage.case, arrival_route=ArrivalRoute.SELF_REFERRAL)
    _validate_triage(triage, victim_input)
    victim = new_victim(victim_input, hub_organisation_id=actor.organisation_id)
    referral, case_row, consent_rows, tasks = await create_referral_rows(
        db, actor=actor, victim=victim, case=case, consents=triage.consents, provider_slugs=triage.provider_slugs
    )
    audit = AuditRecord(
        category=AuditCategory.COMBINATION,
        action="self-referral.triage",
        purpose=PURPOSE_INTAKE,
        victim_id=victim.id,
        subject_ids={
            "self_referral": item.id,
            "victim": victim.id,
            "case": case_row.id,
            "referral": referral.id,
            "consents": [c.id for c in consent_rows],
            "tasks": [t.id for t in tasks],
        },
    )
    return {"status": IntakeStatus.REFERRAL_CREATED.value, "referral_id": referral.id}, audit


async def triage_self_referral(
    *,
    db: AsyncSession,
    actor: Principal,
    self_referral_id: int,
    idempotency_key: str,
    referral: TriageReferral | None = None,
    close_reason: IntakeCloseReason | None = None,
) -> SelfReferral:
    """The Hub turns a new self-referral into a victim, case and referral, or closes it with a reason.

    The Hub acts through a co-ordinator or supervisor signed in, or through its case-management system's client
    (referrals:write), which acts for them; either way the organisation must be an active referrer.
    The referral holds the consents given and a draft task per provider they cover; nothing is sent.
    The case's arrival route is always self-referral, whatever the input says.
    """
    require(actor, Scope.REFERRALS_WRITE)
    await require_referrer(db, actor)
    if (referral is None) == (close_reason is None):
        raise ValidationFailed("Triage either creates a case or closes the self-referral with a reason.")
    claim = await claim_for(
        db=db,
        actor=actor,
        operation="self-referral.triage",
        key=idempotency_key,
        request={"id": self_referral_id, "referral": referral, "close": close_reason},
    )
    item = await first_or_not_found(
        db,
        select(SelfReferral).where(
            col(SelfReferral.id) == (claim.replayed_result_id or self_referral_id),
            col(SelfReferral.hub_organisation_id) == actor.organisation_id,
        ),
    )
    if claim.replayed_result_id is not None:
        return item
    if item.status != IntakeStatus.NEW.value:
        raise InvalidTransition("This self-referral has already been triaged.")
    values: dict[str, Any] = {"triaged_at": utc_now(), "triaged_by": actor.actor_label}
    if close_reason is not None:
        values |= {"status": IntakeStatus.CLOSED.value, "close_reason": reason_code(IntakeCloseReason, close_reason)}
        audit = _intake_audit(item, "self-referral.close", AuditCategory.ALTERATION)
    else:
        assert referral is not None
        outcome, audit = await _triage_into_referral(db, actor, item, referral)
        values |= outcome
    # The status guard makes a second, racing triage change nothing and report a conflict.
    result = await db.exec(
        sa.update(SelfReferral)
        .where(col(SelfReferral.id) == item.id, col(SelfReferral.status) == IntakeStatus.NEW.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict()
    await db.refresh(item)
    await append_audit(db=db, actor=actor, records=[audit])
    assert item.id is not None
    await remember_result(db=db, claim=claim, result_id=item.id)
    return item


async def load_intake_items_for_referrals(
    *, db: AsyncSession, actor: Principal, referral_ids: Sequence[int]
) -> dict[int, SelfReferral]:
    """The self-referral each of the Hub's referrals was triaged from, in one query; each read is a consultation."""
    require(actor, Scope.REFERRALS_READ)
    if not referral_ids:
        return {}
    items = (
        await db.exec(
            select(SelfReferral).where(
                col(SelfReferral.referral_id).in_(set(referral_ids)),
                col(SelfReferral.hub_organisation_id) == actor.organisation_id,
            )
        )
    ).all()
    await append_audit(
        db=db,
        actor=actor,
        records=[_intake_audit(item, "self-referral.read", AuditCategory.CONSULTATION) for item in items],
    )
    return {item.referral_id: item for item in items if item.referral_id is not None}
