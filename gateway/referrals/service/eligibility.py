"""Whether a provider takes a case: its profile's eligibility rules, and the provider organisation behind a slug."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import col, select

from gateway.db import AsyncSession
from gateway.errors import NotEligible, ValidationFailed
from gateway.organisations.models import Organisation, OrganisationRole
from gateway.referrals.models import Case
from gateway.victims.models import Victim
from gateway.victims.service import age_on
from providers.profile import ProviderProfile
from providers.registry import get_profile


def _age_range_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"aged {low} to {high}"
    if low is not None:
        return f"aged {low} and over"
    return f"aged up to {high}"


def eligibility_problems(
    profile: ProviderProfile, *, age: int | None, crime_category: str, needs: Sequence[str]
) -> list[str]:
    """Each eligibility rule of the provider the case does not meet, named by the rule, never by the case's data."""
    rules = profile.eligibility
    problems: list[str] = []
    if rules.min_age is not None or rules.max_age is not None:
        in_range = age is not None and (
            (rules.min_age is None or age >= rules.min_age) and (rules.max_age is None or age <= rules.max_age)
        )
        if not in_range:
            suffix = "" if age is not None else " (the date of birth is needed to check)"
            problems.append(f"takes only victims {_age_range_text(rules.min_age, rules.max_age)}{suffix}")
    if rules.crime_categories and crime_category not in rules.crime_categories:
        problems.append(f"takes only crime categories: {', '.join(sorted(rules.crime_categories))}")
    if rules.any_of_needs and not rules.any_of_needs.intersection(needs):
        problems.append(f"needs one of these assessed needs: {', '.join(sorted(rules.any_of_needs))}")
    return problems


def check_eligibility(profile: ProviderProfile, *, victim: Victim, case: Case, today: date) -> None:
    """Refuse with NotEligible, naming every rule the victim and case do not meet."""
    problems = eligibility_problems(
        profile, age=age_on(victim.date_of_birth, today), crime_category=case.crime_category, needs=case.needs
    )
    if problems:
        raise NotEligible(f"Not eligible for {profile.slug}: {'; '.join(problems)}.")


async def provider_target(db: AsyncSession, slug: str) -> tuple[Organisation, ProviderProfile]:
    """The active provider organisation and its profile for a slug, or ValidationFailed."""
    profile = get_profile(slug)
    organisation = (await db.exec(select(Organisation).where(col(Organisation.slug) == slug))).first()
    if (
        profile is None
        or organisation is None
        or not organisation.active
        or OrganisationRole.PROVIDER.value not in organisation.roles
    ):
        raise ValidationFailed(f"There is no active provider {slug!r}.")
    return organisation, profile
