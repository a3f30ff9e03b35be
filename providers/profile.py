"""The contract every commissioned provider's profile meets, and the words profiles may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CrimeCategory(StrEnum):
    SEXUAL_OFFENCE = "sexual-offence"
    DOMESTIC_ABUSE = "domestic-abuse"
    HATE_CRIME = "hate-crime"
    ROAD_COLLISION = "road-collision"
    VIOLENCE = "violence"
    BURGLARY = "burglary"
    ROBBERY = "robbery"
    FRAUD = "fraud"
    CRIMINAL_DAMAGE = "criminal-damage"
    ANTI_SOCIAL_BEHAVIOUR = "anti-social-behaviour"
    OTHER = "other"


class Need(StrEnum):
    MENTAL_HEALTH = "mental-health"
    YOUNG_PERSON = "young-person"
    SEXUAL_VIOLENCE_SUPPORT = "sexual-violence-support"
    BEREAVEMENT = "bereavement"
    RESTORATIVE_JUSTICE_INTEREST = "restorative-justice-interest"
    HOME_SECURITY = "home-security"
    EMOTIONAL = "emotional"
    PRACTICAL = "practical"
    COMPENSATION_HELP = "compensation-help"
    OTHER = "other"


class VictimField(StrEnum):
    """Every item of a victim's record a provider could be allowed to receive."""

    NAME = "name"
    DATE_OF_BIRTH = "date-of-birth"
    AGE = "age"
    ADDRESS = "address"
    PHONE = "phone"
    EMAIL = "email"
    SAFE_CONTACT = "safe-contact"
    GUARDIAN = "guardian"
    LANGUAGE = "language"
    EQUALITY_MONITORING = "equality-monitoring"
    CRIME_CATEGORY = "crime-category"
    CRIME_REFERENCE = "crime-reference"
    DOMESTIC_ABUSE_RISK = "domestic-abuse-risk"
    PRIORITY_FLAGS = "priority-flags"
    NEEDS = "needs"
    ASSESSMENT_NOTES = "assessment-notes"


class MojOutcome(StrEnum):
    """The four outcome measures the Ministry of Justice asks about for every victim supported."""

    INFORMED_AND_EMPOWERED = "informed-and-empowered"
    HEALTH_AND_WELLBEING = "health-and-wellbeing"
    COPE_AND_RECOVER = "cope-and-recover"
    FEELING_SAFER = "feeling-safer"


MOJ_OUTCOMES: tuple[MojOutcome, ...] = tuple(MojOutcome)
CAMBRIDGESHIRE_AND_PETERBOROUGH = "Cambridgeshire and Peterborough"


class ProfileError(ValueError):
    """A provider profile breaks the contract; the message names the profile and the fault."""


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Who a provider can take: an age range, crime categories (empty means any), an area, needs."""

    area: str
    summary: str
    min_age: int | None = None
    max_age: int | None = None
    crime_categories: frozenset[CrimeCategory] = frozenset()
    any_of_needs: frozenset[Need] = frozenset()


@dataclass(frozen=True, slots=True)
class OutcomeMeasure:
    """A provider-specific measure reported beside the four Ministry of Justice outcomes."""

    code: str
    description: str


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """One commissioned provider, as reviewed code: what it offers, whom it takes, what it may see."""

    slug: str
    display_name: str
    operating_organisation: str
    services: tuple[str, ...]
    eligibility: Eligibility
    first_contact_target_hours: int
    victim_fields: frozenset[VictimField]
    outcome_measures: tuple[OutcomeMeasure, ...] = field(default=())

    def problems(self) -> list[str]:
        """Everything wrong with this profile, in words a reviewer can act on."""
        found: list[str] = []
        if not self.slug or not self.slug.replace("-", "").isalnum() or self.slug != self.slug.lower():
            found.append(f"slug {self.slug!r} must be lower-case letters, digits and hyphens")
        if not self.display_name.strip() or not self.operating_organisation.strip():
            found.append("display name and operating organisation are required")
        if not self.services:
            found.append("at least one service is required")
        if not 1 <= self.first_contact_target_hours <= 24 * 14:
            found.append("first-contact target must be between 1 hour and 14 days")
        unknown_fields = [f for f in self.victim_fields if not isinstance(f, VictimField)]
        if unknown_fields:
            found.append(f"unknown victim fields: {sorted(map(str, unknown_fields))}")
        unknown_crimes = [c for c in self.eligibility.crime_categories if not isinstance(c, CrimeCategory)]
        if unknown_crimes:
            found.append(f"unknown crime categories: {sorted(map(str, unknown_crimes))}")
        unknown_needs = [n for n in self.eligibility.any_of_needs if not isinstance(n, Need)]
        if unknown_needs:
            found.append(f"unknown needs: {sorted(map(str, unknown_needs))}")
        low, high = self.eligibility.min_age, self.eligibility.max_age
        if (low is not None and low < 0) or (low is not None and high is not None and low > high):
            found.append(f"age range {low}-{high} is not a range")
        codes = [m.code for m in self.outcome_measures]
        if len(codes) != len(set(codes)):
            found.append("outcome measure codes repeat")
        if any(code in set(MojOutcome) for code in codes):
            found.append("provider measures must not reuse a Ministry of Justice outcome code")
        return found
