"""Rules for victims: what a record must hold, age from date of birth, and the Hub's audited reads of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import col, select

from gateway.audit.models import AuditCategory, AuditEntry
from gateway.audit.service import AuditRecord, append_audit, audit_trail
from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.errors import NotFound, ValidationFailed
from gateway.kit import first_or_not_found, require
from gateway.victims.models import AgeBand, Disability, Sex, Victim

ADULT_AGE = 18
OLDEST_PLAUSIBLE_AGE = 120
PURPOSE_HUB_CASEWORK = "hub-casework"


@dataclass(frozen=True, slots=True)
class GuardianInput:
    name: str
    relationship: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class SafeContact:
    """How to reach the victim without putting them at risk; every table that holds it uses these column names."""

    safe_phone: str | None = None
    safe_times: str | None = None
    voicemail_safe: bool = False
    letters_safe: bool = False
    perpetrator_shares_address: bool = False


# What callers build the instructions as; a provider's view of the victim shows the same dataclass.
SafeContactInput = SafeContact
SAFE_CONTACT_FIELDS = tuple(f.name for f in dataclasses.fields(SafeContact))


def safe_contact_columns(safe: SafeContact) -> dict[str, Any]:
    """The instructions as the column values a Victim or SelfReferral row stores."""
    return {name: getattr(safe, name) for name in SAFE_CONTACT_FIELDS}


def safe_contact_of(row: Any) -> SafeContact:
    """The instructions a Victim or SelfReferral row (or a selected row of their columns) holds."""
    return SafeContact(**{name: getattr(row, name) for name in SAFE_CONTACT_FIELDS})


# Besides name and safe contact: what a Victim, its input, a SelfReferral and its submission hold, by these names.
PERSONAL_DETAIL_FIELDS = ("date_of_birth", "address", "postcode", "phone", "email", "language", "interpreter_needed")


def personal_details_of(source: Any) -> dict[str, Any]:
    """The date of birth, address, phone, e-mail and language any of them holds, by the names the others take."""
    return {name: getattr(source, name) for name in PERSONAL_DETAIL_FIELDS}


@dataclass(frozen=True, slots=True)
class EqualityInput:
    age_band: AgeBand | None = None
    sex: Sex | None = None
    ethnicity: str | None = None  # a census category or "prefer-not-to-say"
    disability: Disability | None = None


@dataclass(frozen=True, slots=True)
class VictimInput:
    given_name: str
    family_name: str
    date_of_birth: date | None = None
    address: str | None = None
    postcode: str | None = None
    phone: str | None = None
    email: str | None = None
    guardian: GuardianInput | None = None
    safe_contact: SafeContact = field(default_factory=SafeContact)
    language: str | None = None
    interpreter_needed: bool = False
    equality: EqualityInput = field(default_factory=EqualityInput)


def age_on(date_of_birth: date | None, day: date) -> int | None:
    """Whole years from date of birth to the day, or None when the date of birth is unknown."""
    if date_of_birth is None:
        return None
    had_birthday = (day.month, day.day) >= (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - (0 if had_birthday else 1)


def validate_victim_input(victim: VictimInput, *, today: date) -> None:
    """Raise ValidationFailed naming the first missing or impossible item (never its value)."""
    if not victim.given_name.strip() or not victim.family_name.strip():
        raise ValidationFailed("The victim's given and family names are required.")
    age = age_on(victim.date_of_birth, today)
    if age is not None and not 0 <= age <= OLDEST_PLAUSIBLE_AGE:
        raise ValidationFailed("The date of birth is not plausible.")
    if not any((victim.phone, victim.email, victim.address, victim.safe_contact.safe_phone)):
        raise ValidationFailed("At least one way to contact the victim is required.")
    for email in (victim.email, victim.guardian.email if victim.guardian else None):
        if email is not None and "@" not in email:
            raise ValidationFailed("An e-mail address is not valid.")
    if age is not None and age < ADULT_AGE:
        guardian = victim.guardian
        if guardian is None or not guardian.name.strip() or not (guardian.phone or guardian.email):
            raise ValidationFailed("A victim under 18 needs a parent or guardian with a name and a phone or e-mail.")
    if victim.equality.ethnicity is not None and not victim.equality.ethnicity.strip():
        raise ValidationFailed("Ethnicity, when given, must not be blank.")


def new_victim(victim: VictimInput, *, hub_organisation_id: int) -> Victim:
    """A victim row from validated input, owned by the Hub."""
    guardian, equality = victim.guardian, victim.equality
    return Victim(
        hub_organisation_id=hub_organisation_id,
        given_name=victim.given_name.strip(),
        family_name=victim.family_name.strip(),
        **personal_details_of(victim),
        guardian_name=guardian.name if guardian else None,
        guardian_relationship=guardian.relationship if guardian else None,
        guardian_phone=guardian.phone if guardian else None,
        guardian_email=guardian.email if guardian else None,
        **safe_contact_columns(victim.safe_contact),
        equality_age_band=equality.age_band.value if equality.age_band else None,
        equality_sex=equality.sex.value if equality.sex else None,
        equality_ethnicity=equality.ethnicity,
        equality_disability=equality.disability.value if equality.disability else None,
    )


async def load_victims(*, db: AsyncSession, actor: Principal, victim_ids: Sequence[int]) -> dict[int, Victim]:
    """The Hub reads its own victims' full records in one query, each read logged as a consultation."""
    require(actor, Scope.REFERRALS_READ)
    if not victim_ids:
        return {}
    rows = await db.exec(
        select(Victim).where(col(Victim.id).in_(set(victim_ids)), Victim.hub_organisation_id == actor.organisation_id)
    )
    found = {victim.id: victim for victim in rows.all() if victim.id is not None}
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.CONSULTATION,
                action="victim.read",
                purpose=PURPOSE_HUB_CASEWORK,
                victim_id=victim_id,
                subject_ids={"victim": victim_id},
            )
            for victim_id in sorted(found)
        ],
    )
    return found


async def get_victim(*, db: AsyncSession, actor: Principal, victim_id: int) -> Victim:
    """The Hub reads one of its own victims; another organisation's victim is simply not found."""
    found = await load_victims(db=db, actor=actor, victim_ids=[victim_id])
    if victim_id not in found:
        raise NotFound()
    return found[victim_id]


async def read_audit_trail_for_victim(*, db: AsyncSession, actor: Principal, victim_id: int) -> list[AuditEntry]:
    """A holder of audit:read reads the whole trail of a victim whose record their organisation controls."""
    require(actor, Scope.AUDIT_READ)
    await first_or_not_found(
        db, select(col(Victim.id)).where(Victim.id == victim_id, Victim.hub_organisation_id == actor.organisation_id)
    )
    return await audit_trail(db=db, victim_id=victim_id)
