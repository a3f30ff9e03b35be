"""The parties to an RJ case: adding them, their own consent, and their withdrawal, which halts the case."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.audit.models import AuditCategory
from gateway.auth.principal import Principal
from gateway.clock import utc_now
from gateway.consent.models import ConsentMethod
from gateway.db import AsyncSession
from gateway.errors import InvalidTransition, ValidationFailed
from gateway.kit import bounded_text
from gateway.restorative_justice.models import NOTES_MAX_LENGTH, Party, PartyRole, RjCase, RjStage
from gateway.restorative_justice.service.access import (
    CASEWORK,
    MANAGE,
    CaseStep,
    SubjectIds,
    add_to_case,
    case_parties,
    change_in_case,
    require_rj_hub,
)
from gateway.restorative_justice.service.rules import OPEN_STAGES, cancel_scheduled_conferences, require_stage

ADD = CaseStep("rj.party.add", stages=OPEN_STAGES, scopes=MANAGE, category=AuditCategory.COLLECTION)


@dataclass(frozen=True, slots=True)
class PartyInput:
    role: PartyRole
    given_name: str
    family_name: str
    phone: str | None = None
    email: str | None = None
    safe_contact_notes: str | None = None
    supports_party_id: int | None = None


async def add_party(
    *, db: AsyncSession, actor: Principal, case_id: int, party: PartyInput, idempotency_key: str
) -> Party:
    """The co-ordinator adds a person harmed, a person responsible, or a supporter of one of them."""

    async def add(case: RjCase) -> tuple[Party, SubjectIds]:
        if party.role is PartyRole.SUPPORTER:
            supported = next((p for p in await case_parties(db, case_id) if p.id == party.supports_party_id), None)
            if supported is None or supported.role == PartyRole.SUPPORTER.value:
                raise ValidationFailed("A supporter supports a person harmed or responsible in the same case.")
        elif party.supports_party_id is not None:
            raise ValidationFailed("Only a supporter supports another party.")
        row = Party(
            case_id=case_id,
            role=party.role.value,
            supports_party_id=party.supports_party_id,
            given_name=bounded_text(party.given_name, "given name", max_length=100, required=True) or "",
            family_name=bounded_text(party.family_name, "family name", max_length=100, required=True) or "",
            phone=bounded_text(party.phone, "phone", max_length=32),
            email=bounded_text(party.email, "email", max_length=254),
            safe_contact_notes=bounded_text(
                party.safe_contact_notes, "safe-contact notes", max_length=NOTES_MAX_LENGTH
            ),
        )
        db.add(row)
        await db.flush()
        return row, {"rj_party": row.id}

    return await add_to_case(db, actor, ADD, Party, case_id, idempotency_key, {"p": party}, add=add)


async def record_party_consent(
    *,
    db: AsyncSession,
    actor: Principal,
    party_id: int,
    method: ConsentMethod,
    willing: bool,
    idempotency_key: str,
) -> Party:
    """A party's own consent and willingness to take part; a withdrawn party cannot be re-consented here."""
    require_rj_hub(actor, *CASEWORK)

    async def consent(party: Party, case: RjCase) -> SubjectIds:
        require_stage(case, *OPEN_STAGES)
        if party.withdrawn_at is not None:
            raise InvalidTransition("This party has withdrawn.")
        party.consent_given_at = utc_now()
        party.consent_method = method.value
        party.willing = willing
        return {"rj_party": party.id}

    request = {"p": party_id, "m": method, "w": willing}
    return await change_in_case(
        db, actor, Party, "rj.party.consent", party_id, idempotency_key, request, change=consent
    )


async def withdraw_party(*, db: AsyncSession, actor: Principal, party_id: int, idempotency_key: str) -> Party:
    """A party withdraws: the case halts at once, its scheduled conferences are cancelled, and it is audited."""
    require_rj_hub(actor, *CASEWORK)

    async def withdraw(party: Party, case: RjCase) -> SubjectIds:
        if case.stage == RjStage.CLOSED.value:
            raise InvalidTransition("The RJ case is closed.")
        if party.withdrawn_at is not None:
            raise InvalidTransition("This party has already withdrawn.")
        now = utc_now()
        party.withdrawn_at = now
        party.willing = False
        db.add(party)
        case.halted_at = case.halted_at or now
        case.updated_at = now
        db.add(case)
        await db.flush()
        assert case.id is not None
        cancelled = await cancel_scheduled_conferences(db, case.id, "party-withdrew")
        return {"rj_party": party.id, "cancelled_conferences": cancelled}

    request = {"p": party_id}
    return await change_in_case(
        db, actor, Party, "rj.party.withdraw", party_id, idempotency_key, request, change=withdraw
    )
