"""Whether a provider takes a case: its profile's eligibility rules, and the provider organisation behind a slug."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlmodel import col, or_, select

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


def checked_target(slug: str, organisation: Organisation | None) -> tuple[Organisation, ProviderProfile]:
    """The organisation and profile for a slug when it is an active provider with a profile, else ValidationFailed."""
    profile = get_profile(slug)
    if (
        profile is None
        or organisation is None
        or not organisation.active
        or OrganisationRole.PROVIDER.value not in organisation.roles
    ):
        raise ValidationFailed("There is no active provider by that name.")  # never the submitted value
    return organisation, profile


async def provider_target(db: AsyncSession, slug: str) -> tuple[Organisation, ProviderProfile]:
    """The active provider organisation and its profile for a slug, or ValidationFailed."""
    organisation = (await db.exec(select(Organisation).where(col(Organisation.slug) == slug))).first()
    return checked_target(slug, organisation)


async def organisations_by_slug(
    db: AsyncSession, slugs: Sequence[str], *, also_id: int | None = None
) -> dict[str, Organisation]:
    """The organisations behind these slugs (and the one with `also_id`), in one read; check each with
    checked_target. Rows read here stay in the session, so a later `db.get` of `also_id` needs no query."""
    if not slugs and also_id is None:
        return {}
    condition: sa.ColumnElement[bool] = col(Organisation.slug).in_(list(slugs))
    if also_id is not None:
        condition = or_(condition, col(Organisation.id) == also_id)
    return {organisation.slug: organisation for organisation in (await db.exec(select(Organisation).where(condition)))}
