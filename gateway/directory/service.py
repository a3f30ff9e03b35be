"""The public directory of commissioned providers, read from the reviewed profiles."""

from __future__ import annotations

from enum import StrEnum

from gateway.victims.service import ADULT_AGE
from providers.profile import ProviderProfile
from providers.registry import all_profiles


class GuardianRequirement(StrEnum):
    ALWAYS = "always"  # the provider takes only children
    UNDER_18 = "under-18"  # the provider takes children and adults
    NEVER = "never"  # the provider takes only adults


def list_provider_profiles() -> list[ProviderProfile]:
    """Every commissioned provider's profile, ordered by slug; public information only."""
    return list(all_profiles().values())


def guardian_requirement(profile: ProviderProfile) -> GuardianRequirement:
    """Whether referring to this provider needs the victim's parent or guardian, from its age range.

    The rule itself is the victims service's: a victim under ADULT_AGE needs a guardian with a name and a phone or
    e-mail. A referral without a date of birth is checked against the provider's age range before this matters.
    """
    low, high = profile.eligibility.min_age, profile.eligibility.max_age
    if low is not None and low >= ADULT_AGE:
        return GuardianRequirement.NEVER
    if high is not None and high < ADULT_AGE:
        return GuardianRequirement.ALWAYS
    return GuardianRequirement.UNDER_18
