"""GraphQL shapes for the public provider directory: what any caller may know about a provider."""

from __future__ import annotations

import strawberry

from gateway.directory.service import guardian_requirement
from gateway.directory.vocabularies import CrimeCategory, GuardianRequirement, MojOutcome, Need, VictimField
from providers.profile import OutcomeMeasure, ProviderProfile


@strawberry.type(name="ProviderEligibility", description="Whom a provider can take, in words and in rules.")
class ProviderEligibilityType:
    summary: str
    area: str
    min_age: int | None = strawberry.field(description="Youngest age taken, in years; null means no lower bound.")
    max_age: int | None = strawberry.field(description="Oldest age taken, in years; null means no upper bound.")
    crime_categories: list[CrimeCategory] = strawberry.field(description="Empty means any crime category.")
    any_of_needs: list[Need] = strawberry.field(
        description="The victim needs at least one of these; empty means no particular need is required."
    )
    guardian_requirement: GuardianRequirement = strawberry.field(
        description="A victim under 18 needs a parent or guardian with a name and a phone or e-mail."
    )


@strawberry.type(name="ProviderOutcomeMeasure", description="A measure the provider reports beside the MoJ four.")
class ProviderOutcomeMeasureType:
    code: str = strawberry.field(description="What to give as `ProviderMeasureInput.code` when completing a task.")
    description: str


@strawberry.type(name="Provider", description="A commissioned provider's public profile.")
class ProviderType:
    slug: str
    name: str
    operating_organisation: str
    services: list[str]
    eligibility: ProviderEligibilityType
    first_contact_target_hours: int = strawberry.field(
        description="Hours from sending a task by which the provider aims to make first contact."
    )
    victim_fields: list[VictimField] = strawberry.field(
        description="The items of the victim's record this provider may receive; a consent must cover them."
    )
    moj_outcomes: list[MojOutcome] = strawberry.field(
        description="The Ministry of Justice outcomes recorded when the provider completes a task."
    )
    outcome_measures: list[ProviderOutcomeMeasureType] = strawberry.field(
        description="The provider's own outcome measures, recorded when it completes a task."
    )

    @classmethod
    def from_profile(cls, profile: ProviderProfile) -> ProviderType:
        rules = profile.eligibility
        return cls(
            slug=profile.slug,
            name=profile.display_name,
            operating_organisation=profile.operating_organisation,
            services=list(profile.services),
            eligibility=ProviderEligibilityType(
                summary=rules.summary,
                area=rules.area,
                min_age=rules.min_age,
                max_age=rules.max_age,
                crime_categories=sorted(rules.crime_categories, key=lambda c: c.value),
                any_of_needs=sorted(rules.any_of_needs, key=lambda n: n.value),
                guardian_requirement=guardian_requirement(profile),
            ),
            first_contact_target_hours=profile.first_contact_target_hours,
            victim_fields=sorted(profile.victim_fields, key=lambda f: f.value),
            moj_outcomes=list(MojOutcome),
            outcome_measures=[_measure(m) for m in profile.outcome_measures],
        )


def _measure(measure: OutcomeMeasure) -> ProviderOutcomeMeasureType:
    return ProviderOutcomeMeasureType(code=measure.code, description=measure.description)
