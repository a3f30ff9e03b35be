"""The officer's changes to one victim's record: legal holds placed and lifted, details rectified."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal
from gateway.clock import utc_now
from gateway.data_protection.models import LegalHold, Rectification
from gateway.data_protection.service.access import PURPOSE_LEGAL_HOLD, PURPOSE_RECTIFICATION, require_officer
from gateway.db import AsyncSession
from gateway.errors import InvalidTransition, ValidationFailed
from gateway.idempotency.service import claim_for, remember_result
from gateway.kit import bounded_text, first_or_not_found, get_or_not_found
from gateway.victims.models import Victim

MAX_REASON = 2000


class VictimDetail(StrEnum):
    """The details of a victim the officer may correct, each a column of `victims`."""

    GIVEN_NAME = "given_name"
    FAMILY_NAME = "family_name"
    DATE_OF_BIRTH = "date_of_birth"
    ADDRESS = "address"
    POSTCODE = "postcode"
    PHONE = "phone"
    EMAIL = "email"
    SAFE_PHONE = "safe_phone"
    SAFE_TIMES = "safe_times"
    LANGUAGE = "language"
    GUARDIAN_NAME = "guardian_name"
    GUARDIAN_RELATIONSHIP = "guardian_relationship"
    GUARDIAN_PHONE = "guardian_phone"
    GUARDIAN_EMAIL = "guardian_email"


# The longest each may be, as the columns hold them; names may not be blank.
DETAIL_LENGTHS: dict[VictimDetail, int] = {
    VictimDetail.GIVEN_NAME: 100,
    VictimDetail.FAMILY_NAME: 100,
    VictimDetail.DATE_OF_BIRTH: 10,
    VictimDetail.ADDRESS: 500,
    VictimDetail.POSTCODE: 10,
    VictimDetail.PHONE: 32,
    VictimDetail.EMAIL: 254,
    VictimDetail.SAFE_PHONE: 32,
    VictimDetail.SAFE_TIMES: 200,
    VictimDetail.LANGUAGE: 60,
    VictimDetail.GUARDIAN_NAME: 200,
    VictimDetail.GUARDIAN_RELATIONSHIP: 60,
    VictimDetail.GUARDIAN_PHONE: 32,
    VictimDetail.GUARDIAN_EMAIL: 254,
}
REQUIRED_DETAILS = frozenset({VictimDetail.GIVEN_NAME, VictimDetail.FAMILY_NAME})


@dataclass(frozen=True, slots=True)
class Correction:
    """One detail and its right value; None clears a detail that may be empty."""

    detail: VictimDetail
    value: str | None


async def load_controlled_victim(db: AsyncSession, actor: Principal, victim_id: int) -> Victim:
    """A victim the officer's organisation controls and that has not been erased; anything else is not-found."""
    return await first_or_not_found(
        db,
        select(Victim).where(
            Victim.id == victim_id,
            Victim.hub_organisation_id == actor.organisation_id,
            col(Victim.given_name) != "",
        ),
    )


def _reason(reason: str | None) -> str:
    cleaned = bounded_text(reason, "reason", max_length=MAX_REASON, required=True)
    assert cleaned is not None
    return cleaned


def _corrected_value(correction: Correction) -> Any:
    what = correction.detail.value.replace("_", " ")
    text = bounded_text(
        correction.value,
        what,
        max_length=DETAIL_LENGTHS[correction.detail],
        required=correction.detail in REQUIRED_DETAILS,
    )
    if correction.detail is VictimDetail.DATE_OF_BIRTH and text is not None:
        try:
            born = date.fromisoformat(text)
        except ValueError:
            raise ValidationFailed("The date of birth must be a date, YYYY-MM-DD.") from None
        if born > utc_now().date():
            raise ValidationFailed("The date of birth cannot be in the future.")
        return born
    return text


async def rectify_victim(
    *,
    db: AsyncSession,
    actor: Principal,
    victim_id: int,
    corrections: list[Correction],
    reason: str,
    idempotency_key: str,
) -> Rectification:
    """The officer corrects a victim's details: the old values are overwritten, not kept; who, what and why are."""
    require_officer(actor)
    if not corrections or len(corrections) > len(VictimDetail):
        raise ValidationFailed(f"Give 1 to {len(VictimDetail)} corrections.")
    details = [c.detail for c in corrections]
    if len(set(details)) != len(details):
        raise ValidationFailed("Correct each detail once.")
    why = _reason(reason)
    values = {c.detail.value: _corrected_value(c) for c in corrections}
    claim = await claim_for(
        db=db,
        actor=actor,
        operation="victim.rectify",
        key=idempotency_key,
        request={"victim": victim_id, "values": values, "reason": why},
    )
    if claim.replayed_result_id is not None:
        return await get_or_not_found(db, Rectification, claim.replayed_result_id)
    victim = await load_controlled_victim(db, actor, victim_id)
    for name, value in values.items():
        setattr(victim, name, value)
    victim.updated_at = utc_now()
    record = Rectification(
        victim_id=victim_id, fields=sorted(values), reason=why, rectified_by=actor.actor_label, rectified_at=utc_now()
    )
    db.add_all([victim, record])
    await db.flush()
    assert record.id is not None
    await remember_result(db=db, claim=claim, result_id=record.id)
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.ALTERATION,
                action="victim.rectify",
                purpose=PURPOSE_RECTIFICATION,
                victim_id=victim_id,
                subject_ids={"victim": victim_id, "rectification": record.id, "fields": sorted(values)},
            )
        ],
    )
    return record


async def list_rectifications(*, db: AsyncSession, actor: Principal, victim_id: int) -> list[Rectification]:
    """The corrections made to one of the officer's organisation's victims, oldest first."""
    require_officer(actor)
    await load_controlled_victim(db, actor, victim_id)
    rows = await db.exec(
        select(Rectification).where(Rectification.victim_id == victim_id).order_by(col(Rectification.id))
    )
    return list(rows.all())


def _hold_audit(hold: LegalHold, action: str) -> AuditRecord:
    return AuditRecord(
        category=AuditCategory.ALTERATION,
        action=action,
        purpose=PURPOSE_LEGAL_HOLD,
        victim_id=hold.victim_id,
        subject_ids={"victim": hold.victim_id, "legal_hold": hold.id},
    )


async def place_legal_hold(
    *, db: AsyncSession, actor: Principal, victim_id: int, reason: str, idempotency_key: str
) -> LegalHold:
    """The officer stops erasure of a victim's records until the hold is lifted, saying why."""
    require_officer(actor)
    why = _reason(reason)
    claim = await claim_for(
        db=db, actor=actor, operation="legal-hold.place", key=idempotency_key, request={"victim": victim_id, "why": why}
    )
    if claim.replayed_result_id is not None:
        return await get_or_not_found(db, LegalHold, claim.replayed_result_id, populate_existing=True)
    await load_controlled_victim(db, actor, victim_id)
    hold = LegalHold(victim_id=victim_id, reason=why, placed_by=actor.actor_label, placed_at=utc_now())
    db.add(hold)
    await db.flush()
    assert hold.id is not None
    await remember_result(db=db, claim=claim, result_id=hold.id)
    await append_audit(db=db, actor=actor, records=[_hold_audit(hold, "legal-hold.place")])
    return hold


async def lift_legal_hold(*, db: AsyncSession, actor: Principal, hold_id: int, idempotency_key: str) -> LegalHold:
    """The officer lifts a standing hold; the victim's records fall under the schedule again."""
    require_officer(actor)
    claim = await claim_for(
        db=db, actor=actor, operation="legal-hold.lift", key=idempotency_key, request={"hold": hold_id}
    )
    if claim.replayed_result_id is not None:
        return await get_or_not_found(db, LegalHold, claim.replayed_result_id, populate_existing=True)
    hold = await first_or_not_found(
        db,
        select(LegalHold)
        .join(Victim, col(Victim.id) == col(LegalHold.victim_id))
        .where(LegalHold.id == hold_id, Victim.hub_organisation_id == actor.organisation_id)
        .with_for_update(),
    )
    if hold.lifted_at is not None:
        raise InvalidTransition("That hold has already been lifted.")
    hold.lifted_at = utc_now()
    hold.lifted_by = actor.actor_label
    db.add(hold)
    await db.flush()
    await remember_result(db=db, claim=claim, result_id=hold_id)
    await append_audit(db=db, actor=actor, records=[_hold_audit(hold, "legal-hold.lift")])
    return hold


async def list_legal_holds(*, db: AsyncSession, actor: Principal, victim_id: int) -> list[LegalHold]:
    """Every hold placed on one of the officer's organisation's victims, standing or lifted."""
    require_officer(actor)
    rows = await db.exec(
        select(LegalHold)
        .join(Victim, col(Victim.id) == col(LegalHold.victim_id))
        .where(LegalHold.victim_id == victim_id, Victim.hub_organisation_id == actor.organisation_id)
        .order_by(col(LegalHold.id))
    )
    return list(rows.all())
