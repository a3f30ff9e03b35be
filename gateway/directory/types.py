"""GraphQL shapes for the public provider directory: what any caller may know about a provider."""

from __future__ import annotations

import strawberry

from providers.profile import ProviderProfile


@strawberry.type(name="ProviderEligibility", description="Whom a provider can take, in words and in rules.")
class ProviderEligibilityType:
    summary: str
    area: str
    min_age: int | None
    max_age: int | None
    crime_categories: list[str] = strawberry.field(description="Empty means any crime category.")


@strawberry.type(name="Provider", description="A commissioned provider's public profile.")
class ProviderType:
    slug: str
    name: str
    operating_organisation: str
    services: list[str]
    eligibility: ProviderEligibilityType
    first_contact_target_hours: int

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
                crime_categories=sorted(c.value for c in rules.crime_categories),
            ),
            first_contact_target_hours=profile.first_contact_target_hours,
        )
