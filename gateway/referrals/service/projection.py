"""What a provider's view of a victim can hold, and how each field is read: only the columns it may see are selected."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from gateway.referrals.models import Case
from gateway.victims.models import Victim
from gateway.victims.service import SAFE_CONTACT_FIELDS, SafeContact, age_on, safe_contact_of
from providers.profile import VictimField
from providers.registry import get_profile

VICTIMS: sa.Table = Victim.__table__  # type: ignore[attr-defined]
CASES: sa.Table = Case.__table__  # type: ignore[attr-defined]
_V = VICTIMS.c
_C = CASES.c


@dataclass(frozen=True, slots=True)
class GuardianView:
    name: str | None
    relationship: str | None
    phone: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class EqualityView:
    age_band: str | None
    sex: str | None
    ethnicity: str | None
    disability: str | None


@dataclass(frozen=True, slots=True)
class PriorityFlagsView:
    most_serious_crime: bool
    persistently_targeted: bool
    vulnerable_or_intimidated: bool


@dataclass(frozen=True, slots=True)
class ProviderVictimView:
    """What one provider may see of the victim on one task: its profile's fields, or nothing with the reason."""

    task_id: int
    redacted: bool
    redaction_reason: str | None
    fields: frozenset[VictimField]
    field_names: tuple[str, ...] = ()  # the same, as sorted names, for the GraphQL type to show as they are
    shared_under_safeguarding_override: bool = False
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    age: int | None = None
    address: str | None = None
    postcode: str | None = None
    phone: str | None = None
    email: str | None = None
    safe_contact: SafeContact | None = None
    guardian: GuardianView | None = None
    language: str | None = None
    interpreter_needed: bool | None = None
    equality: EqualityView | None = None
    crime_category: str | None = None
    crime_reference: str | None = None
    domestic_abuse_risk: str | None = None
    priority_flags: PriorityFlagsView | None = None
    needs: tuple[str, ...] | None = None
    assessment_notes: str | None = None


def _guardian_view(victim: Any) -> GuardianView | None:
    if victim.guardian_name is None:
        return None
    return GuardianView(
        name=victim.guardian_name,
        relationship=victim.guardian_relationship,
        phone=victim.guardian_phone,
        email=victim.guardian_email,
    )


@dataclass(frozen=True, slots=True)
class FieldSource:
    """The columns one allowed field reads, and how they fill the view."""

    columns: tuple[sa.Column[Any], ...]
    values: Callable[[Any, date], dict[str, Any]]


# How each field a profile may allow is read and fills the view. A field absent from `allowed` is never selected
# from the database at all: the SQL fetches only what the provider may see.
FIELD_SOURCES: dict[VictimField, FieldSource] = {
    VictimField.NAME: FieldSource(
        (_V.given_name, _V.family_name), lambda r, today: {"given_name": r.given_name, "family_name": r.family_name}
    ),
    VictimField.DATE_OF_BIRTH: FieldSource((_V.date_of_birth,), lambda r, today: {"date_of_birth": r.date_of_birth}),
    VictimField.AGE: FieldSource((_V.date_of_birth,), lambda r, today: {"age": age_on(r.date_of_birth, today)}),
    VictimField.ADDRESS: FieldSource(
        (_V.address, _V.postcode), lambda r, today: {"address": r.address, "postcode": r.postcode}
    ),
    VictimField.PHONE: FieldSource((_V.phone,), lambda r, today: {"phone": r.phone}),
    VictimField.EMAIL: FieldSource((_V.email,), lambda r, today: {"email": r.email}),
    VictimField.SAFE_CONTACT: FieldSource(
        tuple(_V[name] for name in SAFE_CONTACT_FIELDS), lambda r, today: {"safe_contact": safe_contact_of(r)}
    ),
    VictimField.GUARDIAN: FieldSource(
        (_V.guardian_name, _V.guardian_relationship, _V.guardian_phone, _V.guardian_email),
        lambda r, today: {"guardian": _guardian_view(r)},
    ),
    VictimField.LANGUAGE: FieldSource(
        (_V.language, _V.interpreter_needed),
        lambda r, today: {"language": r.language, "interpreter_needed": r.interpreter_needed},
    ),
    VictimField.EQUALITY_MONITORING: FieldSource(
        (_V.equality_age_band, _V.equality_sex, _V.equality_ethnicity, _V.equality_disability),
        lambda r, today: {
            "equality": EqualityView(
                age_band=r.equality_age_band,
                sex=r.equality_sex,
                ethnicity=r.equality_ethnicity,
                disability=r.equality_disability,
            )
        },
    ),
    VictimField.CRIME_CATEGORY: FieldSource(
        (_C.crime_category,), lambda r, today: {"crime_category": r.crime_category}
    ),
    VictimField.CRIME_REFERENCE: FieldSource(
        (_C.crime_reference,), lambda r, today: {"crime_reference": r.crime_reference}
    ),
    VictimField.DOMESTIC_ABUSE_RISK: FieldSource(
        (_C.domestic_abuse_risk,), lambda r, today: {"domestic_abuse_risk": r.domestic_abuse_risk}
    ),
    VictimField.PRIORITY_FLAGS: FieldSource(
        (_C.priority_most_serious_crime, _C.priority_persistently_targeted, _C.priority_vulnerable_or_intimidated),
        lambda r, today: {
            "priority_flags": PriorityFlagsView(
                most_serious_crime=r.priority_most_serious_crime,
                persistently_targeted=r.priority_persistently_targeted,
                vulnerable_or_intimidated=r.priority_vulnerable_or_intimidated,
            )
        },
    ),
    VictimField.NEEDS: FieldSource((_C.needs,), lambda r, today: {"needs": tuple(r.needs)}),
    VictimField.ASSESSMENT_NOTES: FieldSource(
        (_C.assessment_notes,), lambda r, today: {"assessment_notes": r.assessment_notes}
    ),
}


# The ProviderVictimView attributes each field fills: a query that selects none of a field's attributes does
# not have that field read from the database at all.
VIEW_ATTRIBUTES: dict[VictimField, tuple[str, ...]] = {
    VictimField.NAME: ("given_name", "family_name"),
    VictimField.DATE_OF_BIRTH: ("date_of_birth",),
    VictimField.AGE: ("age",),
    VictimField.ADDRESS: ("address", "postcode"),
    VictimField.PHONE: ("phone",),
    VictimField.EMAIL: ("email",),
    VictimField.SAFE_CONTACT: ("safe_contact",),
    VictimField.GUARDIAN: ("guardian",),
    VictimField.LANGUAGE: ("language", "interpreter_needed"),
    VictimField.EQUALITY_MONITORING: ("equality",),
    VictimField.CRIME_CATEGORY: ("crime_category",),
    VictimField.CRIME_REFERENCE: ("crime_reference",),
    VictimField.DOMESTIC_ABUSE_RISK: ("domestic_abuse_risk",),
    VictimField.PRIORITY_FLAGS: ("priority_flags",),
    VictimField.NEEDS: ("needs",),
    VictimField.ASSESSMENT_NOTES: ("assessment_notes",),
}
# Attributes that say what the view is rather than hold the victim's data.
VIEW_STANDING_ATTRIBUTES = frozenset(
    {"task_id", "redacted", "redaction_reason", "fields", "field_names", "shared_under_safeguarding_override"}
)
_FIELD_OF_ATTRIBUTE = {name: field for field, names in VIEW_ATTRIBUTES.items() for name in names}


def victim_fields_for_attributes(attributes: Iterable[str]) -> frozenset[VictimField] | None:
    """The fields that fill these view attributes; None (read every allowed field) for any name it cannot place."""
    fields: set[VictimField] = set()
    for name in attributes:
        if name in VIEW_STANDING_ATTRIBUTES:
            continue
        victim_field = _FIELD_OF_ATTRIBUTE.get(name)
        if victim_field is None:
            return None
        fields.add(victim_field)
    return frozenset(fields)


def redacted_view(task_id: int, reason: str) -> ProviderVictimView:
    """A view holding none of the victim's data, with the reason."""
    return ProviderVictimView(task_id=task_id, redacted=True, redaction_reason=reason, fields=frozenset())


def project(
    task_id: int,
    row: Any,
    allowed: frozenset[VictimField],
    *,
    override: bool,
    today: date,
    wanted: frozenset[VictimField] | None,
) -> ProviderVictimView:
    """Only the allowed fields that were asked for are filled in; every other field stays None."""
    values: dict[str, Any] = {}
    for victim_field in allowed if wanted is None else allowed & wanted:
        values |= FIELD_SOURCES[victim_field].values(row, today)
    return ProviderVictimView(
        task_id=task_id,
        redacted=False,
        redaction_reason=None,
        fields=allowed,
        field_names=tuple(sorted(f.value for f in allowed)),
        shared_under_safeguarding_override=override,
        **values,
    )


@functools.lru_cache(maxsize=256)
def covered_fields(data_categories: tuple[str, ...]) -> frozenset[VictimField]:
    """The fields a consent's data categories cover."""
    # Consents cover a few distinct sets of categories; a page of 50 views would otherwise build ~800 enum members.
    return frozenset(VictimField(category) for category in data_categories)


def victim_columns(slugs: set[str], wanted: frozenset[VictimField] | None) -> list[sa.Column[Any]]:
    """The victim and case columns of the wanted fields the providers' profiles could ever show, each once."""
    columns: dict[str, sa.Column[Any]] = {}
    for slug in sorted(slugs):
        profile = get_profile(slug)
        assert profile is not None
        for victim_field in sorted(profile.victim_fields if wanted is None else profile.victim_fields & wanted):
            columns |= {column.name: column for column in FIELD_SOURCES[victim_field].columns}
    return list(columns.values())
