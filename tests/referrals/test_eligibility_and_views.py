"""Eligibility from the provider profiles, and each provider's view holding exactly its allowed fields."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from gateway.db import AsyncSession
from gateway.errors import DomainError, NotEligible
from gateway.organisations.models import Organisation
from gateway.referrals.models import Referral, ReferralTask
from gateway.referrals.service import VIEW_ATTRIBUTES, CaseInput, get_victim_view_for_task, send_task
from gateway.victims.models import Victim
from gateway.victims.service import GuardianInput, VictimInput
from providers.profile import CrimeCategory, Need, VictimField
from providers.registry import all_profiles
from tests.support.domain import (
    VICTIM_FAMILY_NAME,
    VICTIM_GIVEN_NAME,
    World,
    adult_victim,
    case_input,
    child_victim,
    consent_for,
    key,
    make_referral,
    make_sent_task,
    years_ago,
)

# Which attributes of the view carry each field (checked against what each field fills in
# tests/api/test_selected_fields.py); a field not allowed must leave all of them None.
FIELD_ATTRIBUTES = VIEW_ATTRIBUTES

# A fully filled-in victim and case each provider is eligible for.
ELIGIBLE_CASES: dict[str, tuple[VictimInput, CaseInput]] = {
    "cpn": (adult_victim(), case_input(needs=(Need.MENTAL_HEALTH,))),
    "family-action": (child_victim(15), case_input(needs=(Need.YOUNG_PERSON,))),
    "rape-crisis": (child_victim(14), case_input(crime=CrimeCategory.SEXUAL_OFFENCE)),
    "rj-hub": (child_victim(16), case_input(needs=(Need.RESTORATIVE_JUSTICE_INTEREST,))),
    # A bereaved adult with a representative on file, so that every field the profile allows has a value.
    "road-victims-trust": (
        adult_victim(guardian=GuardianInput(name="Representative", relationship="sibling", phone="07700900004")),
        case_input(crime=CrimeCategory.ROAD_COLLISION, needs=(Need.BEREAVEMENT,)),
    ),
}


def test_the_field_map_covers_every_victim_field() -> None:
    assert set(FIELD_ATTRIBUTES) == set(VictimField)
    assert set(ELIGIBLE_CASES) == set(all_profiles())


@pytest.mark.parametrize("slug", sorted(ELIGIBLE_CASES))
async def test_each_provider_sees_exactly_the_fields_its_profile_allows(
    db: AsyncSession, world: World, slug: str
) -> None:
    # Given a fully filled-in record sent to the provider under consent covering every category
    victim, case = ELIGIBLE_CASES[slug]
    task = await make_sent_task(db, world, slug, victim=victim, case=case)
    assert task.id is not None

    # When the provider reads the victim
    view = await get_victim_view_for_task(db=db, actor=world.caseworker(slug), task_id=task.id)

    # Then exactly the profile's fields are present and every other field is absent
    allowed = all_profiles()[slug].victim_fields
    assert view.redacted is False and view.fields == allowed
    for victim_field, attributes in FIELD_ATTRIBUTES.items():
        values = [getattr(view, attribute) for attribute in attributes]
        if victim_field in allowed:
            assert all(value is not None for value in values), f"{slug} should see {victim_field}"
        else:
            assert all(value is None for value in values), f"{slug} must not see {victim_field}"


async def test_the_road_victims_trust_refuses_a_case_that_is_not_a_road_collision(
    db: AsyncSession, world: World
) -> None:
    # When the Hub refers a violence case to the Road Victims Trust
    with pytest.raises(NotEligible) as refused:
        await make_referral(db, world, providers=("road-victims-trust",), case=case_input(crime=CrimeCategory.VIOLENCE))

    # Then it is refused naming the rule, and the message carries no personal data
    assert refused.value.code == "not-eligible"
    assert refused.value.message == "Not eligible for road-victims-trust: takes only crime categories: road-collision."
    assert VICTIM_GIVEN_NAME not in refused.value.message and VICTIM_FAMILY_NAME not in refused.value.message


async def test_family_action_refuses_an_adult_and_the_cpn_a_case_without_a_mental_health_need(
    db: AsyncSession, world: World
) -> None:
    with pytest.raises(NotEligible) as adult:
        await make_referral(db, world, providers=("family-action",), victim=adult_victim())
    with pytest.raises(NotEligible) as no_need:
        await make_referral(db, world, providers=("cpn",), case=case_input(needs=(Need.PRACTICAL,)))

    assert adult.value.message == "Not eligible for family-action: takes only victims aged 0 to 17."
    assert no_need.value.message == "Not eligible for cpn: needs one of these assessed needs: mental-health."


async def test_eligibility_is_checked_again_when_the_task_is_sent(db: AsyncSession, world: World) -> None:
    # Given a draft to Family Action for a 17-year-old
    _, [task] = await make_referral(
        db, world, providers=("family-action",), victim=child_victim(17), case=case_input(needs=(Need.YOUNG_PERSON,))
    )
    assert task.id is not None

    # When the victim has turned 18 by the time the Hub sends it
    await db.exec(update(Victim).where(Victim.id == task.victim_id).values(date_of_birth=years_ago(18)))  # type: ignore[arg-type]

    # Then the send is refused as not eligible and the task stays a draft
    with pytest.raises(NotEligible):
        await send_task(db=db, actor=world.coordinator, task_id=task.id, expected_version=1, idempotency_key=key())
    await db.refresh(task)
    assert isinstance(task, ReferralTask) and task.status == "draft"


async def test_a_referral_naming_no_active_provider_is_refused_at_the_first_in_order_and_writes_nothing(
    db: AsyncSession, world: World
) -> None:
    # Given the RJ hub's organisation deactivated (the providers' organisations are read in one query)
    await db.exec(update(Organisation).where(col(Organisation.slug) == "rj-hub").values(active=False))
    await db.commit()
    referrals_before = len((await db.exec(select(Referral.id))).all())
    consent, coordinator = [consent_for("cpn")], world.coordinator  # taken once: a rollback expires the world

    # When the Hub names it, an organisation that is no provider, or it before a provider the adult is not
    # eligible for, and then the other way round
    refusals = []
    for providers in (("cpn", "rj-hub"), ("cpn", "hub"), ("rj-hub", "family-action"), ("family-action", "rj-hub")):
        with pytest.raises(DomainError) as refused:
            await make_referral(
                db, world, providers=providers, consents=consent, victim=adult_victim(), actor=coordinator
            )
        await db.rollback()
        refusals.append((refused.value.code, refused.value.message))

    # Then each is refused at the first provider in the order given, and no referral was written
    assert refusals == [
        ("validation", "There is no active provider by that name."),
        ("validation", "There is no active provider by that name."),
        ("validation", "There is no active provider by that name."),
        ("not-eligible", "Not eligible for family-action: takes only victims aged 0 to 17."),
    ]
    assert len((await db.exec(select(Referral.id))).all()) == referrals_before
