"""Triage leads somewhere: who may triage, a referral with consent and tasks, and adding to a referral afterwards."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlmodel import col, select

from gateway.audit.models import AuditEntry
from gateway.auth.principal import Principal, Scope
from gateway.consent.models import Consent
from gateway.db import AsyncSession
from gateway.errors import ConsentRequired, Forbidden, NotEligible, NotFound, ValidationFailed
from gateway.referrals.models import Case, Referral, ReferralTask, SelfReferral
from gateway.referrals.service import (
    SelfReferralSubmission,
    TriageReferral,
    add_referral_task,
    list_intake_queue,
    load_intake_items_for_referrals,
    record_referral_consent,
    submit_self_referral,
    triage_self_referral,
)
from gateway.victims.models import Victim
from providers.profile import CrimeCategory
from tests.support.domain import World, case_input, consent_for, count, key, make_referral, years_ago

ADULT = years_ago(40)


def _machine_client(world: World, slug: str = "hub") -> Principal:
    """A case-management system's client: scopes, no person and no role."""
    return Principal(
        organisation_id=world.org_id(slug),
        organisation_slug=slug,
        scopes=frozenset({Scope.REFERRALS_READ, Scope.REFERRALS_WRITE}),
        client_id=f"{slug}-case-management",
    )


async def _new_item(db: AsyncSession, world: World, *, date_of_birth: date | None = ADULT) -> int:
    """A new self-referral's id (an id, not the row: a rolled-back session expires rows)."""
    await submit_self_referral(
        db=db,
        submission=SelfReferralSubmission(
            given_name="Tamsin",
            family_name="Orrery",
            consent_to_contact=True,
            date_of_birth=date_of_birth,
            phone="07700900123",
        ),
        idempotency_key=key(),
    )
    await db.commit()  # so that a refused triage's rollback leaves it waiting
    [item] = await list_intake_queue(db=db, actor=world.coordinator)
    assert item.id is not None
    return item.id


async def _status(db: AsyncSession, item_id: int) -> str:
    return (await db.exec(select(SelfReferral.status).where(col(SelfReferral.id) == item_id))).one()


def _triage(*providers: str, consents: bool = True) -> TriageReferral:
    return TriageReferral(
        case=case_input(),
        consents=(consent_for(*providers),) if consents and providers else (),
        provider_slugs=providers,
    )


async def _tasks_of(db: AsyncSession, referral_id: int) -> list[tuple[str, str]]:
    tasks = await db.exec(
        select(ReferralTask).where(col(ReferralTask.referral_id) == referral_id).order_by(col(ReferralTask.id))
    )
    return [(t.provider_slug, t.status) for t in tasks.all()]


# -- who may triage --------------------------------------------------------------------------------------------------


async def test_the_hubs_case_management_client_triages_for_its_coordinators(db: AsyncSession, world: World) -> None:
    item_id = await _new_item(db, world)

    triaged = await triage_self_referral(
        db=db, actor=_machine_client(world), self_referral_id=item_id, referral=_triage(), idempotency_key=key()
    )

    assert (triaged.status, triaged.triaged_by) == ("referral-created", "client:hub-case-management")
    assert triaged.referral_id is not None


async def test_a_client_of_an_organisation_that_does_not_refer_cannot_triage(db: AsyncSession, world: World) -> None:
    # A provider's client wrongly granted referrals:write is still not the Hub
    item_id = await _new_item(db, world)

    with pytest.raises(Forbidden):
        await triage_self_referral(
            db=db,
            actor=_machine_client(world, "cpn"),
            self_referral_id=item_id,
            referral=_triage(),
            idempotency_key=key(),
        )
    await db.rollback()

    assert (await count(db, Referral), await _status(db, item_id)) == (0, "new")


# -- triage makes a referral with consent and tasks -----------------------------------------------------------------


async def test_triage_records_the_consent_and_a_draft_task_per_provider(db: AsyncSession, world: World) -> None:
    item_id = await _new_item(db, world)

    triaged = await triage_self_referral(
        db=db,
        actor=world.coordinator,
        self_referral_id=item_id,
        referral=_triage("cpn", "rj-hub"),
        idempotency_key=key(),
    )

    assert triaged.referral_id is not None
    referral = await db.get(Referral, triaged.referral_id)
    assert referral is not None
    case = await db.get(Case, referral.case_id)
    assert case is not None and case.arrival_route == "self-referral"
    assert await _tasks_of(db, triaged.referral_id) == [("cpn", "draft"), ("rj-hub", "draft")]
    [consent] = (await db.exec(select(Consent).where(col(Consent.victim_id) == referral.victim_id))).all()
    assert consent.provider_slugs == ["cpn", "rj-hub"]
    audit = (await db.exec(select(AuditEntry).where(col(AuditEntry.action) == "self-referral.triage"))).one()
    assert audit.subject_ids["referral"] == referral.id and audit.subject_ids["consents"] == [consent.id]
    assert len(audit.subject_ids["tasks"]) == 2

    # And the referral knows the self-referral it came from
    found = await load_intake_items_for_referrals(db=db, actor=world.coordinator, referral_ids=[triaged.referral_id])
    assert found[triaged.referral_id].id == item_id


async def test_triage_refuses_a_provider_no_consent_covers_and_changes_nothing(db: AsyncSession, world: World) -> None:
    item_id = await _new_item(db, world)
    uncovered = replace(_triage("cpn"), provider_slugs=("cpn", "rj-hub"))

    with pytest.raises(ConsentRequired):
        await triage_self_referral(
            db=db, actor=world.coordinator, self_referral_id=item_id, referral=uncovered, idempotency_key=key()
        )
    await db.rollback()

    assert (await count(db, Victim), await count(db, Referral), await count(db, Consent)) == (0, 0, 0)
    assert await _status(db, item_id) == "new"


async def test_triage_refuses_a_provider_the_case_is_not_eligible_for(db: AsyncSession, world: World) -> None:
    item_id = await _new_item(db, world)

    with pytest.raises(NotEligible):
        await triage_self_referral(
            db=db,
            actor=world.coordinator,
            self_referral_id=item_id,
            referral=_triage("rape-crisis"),  # a violence case, and it takes only sexual offences
            idempotency_key=key(),
        )


async def test_a_date_of_birth_given_on_the_call_makes_an_age_limited_provider_possible(
    db: AsyncSession, world: World
) -> None:
    # The form did not ask for a date of birth, and CPN takes only adults
    coordinator = world.coordinator
    item_id = await _new_item(db, world, date_of_birth=None)
    with pytest.raises(NotEligible):
        await triage_self_referral(
            db=db, actor=coordinator, self_referral_id=item_id, referral=_triage("cpn"), idempotency_key=key()
        )
    await db.rollback()

    # When the co-ordinator records the date of birth the victim gave on the call, the task is made
    triaged = await triage_self_referral(
        db=db,
        actor=coordinator,
        self_referral_id=item_id,
        referral=replace(_triage("cpn"), date_of_birth=years_ago(30)),
        idempotency_key=key(),
    )
    assert triaged.referral_id is not None
    assert await _tasks_of(db, triaged.referral_id) == [("cpn", "draft")]
    referral = await db.get(Referral, triaged.referral_id)
    assert referral is not None
    victim = await db.get(Victim, referral.victim_id)
    assert victim is not None and victim.date_of_birth == years_ago(30)


async def test_triage_refuses_a_provider_named_twice(db: AsyncSession, world: World) -> None:
    item_id = await _new_item(db, world)
    with pytest.raises(ValidationFailed):
        await triage_self_referral(
            db=db,
            actor=world.coordinator,
            self_referral_id=item_id,
            referral=replace(_triage("cpn"), provider_slugs=("cpn", "cpn")),
            idempotency_key=key(),
        )


# -- adding to an existing referral ----------------------------------------------------------------------------------


async def test_a_provider_is_added_once_a_consent_covering_it_is_recorded(db: AsyncSession, world: World) -> None:
    coordinator = world.coordinator  # taken before a rollback expires the organisations
    item_id = await _new_item(db, world)
    triaged = await triage_self_referral(
        db=db, actor=coordinator, self_referral_id=item_id, referral=_triage(), idempotency_key=key()
    )
    referral_id = triaged.referral_id
    assert referral_id is not None
    await db.commit()

    # Without consent the provider cannot be added
    with pytest.raises(ConsentRequired):
        await add_referral_task(
            db=db, actor=coordinator, referral_id=referral_id, provider_slug="cpn", idempotency_key=key()
        )
    await db.rollback()

    # When the consent is recorded against the referral, the provider can be, and a retry adds nothing more
    consent = await record_referral_consent(
        db=db, actor=coordinator, referral_id=referral_id, consent=consent_for("cpn"), idempotency_key=key()
    )
    retry = key()
    task = await add_referral_task(
        db=db, actor=coordinator, referral_id=referral_id, provider_slug="cpn", idempotency_key=retry
    )
    again = await add_referral_task(
        db=db, actor=coordinator, referral_id=referral_id, provider_slug="cpn", idempotency_key=retry
    )

    referral = await db.get(Referral, referral_id)
    assert referral is not None and consent.victim_id == referral.victim_id
    assert (task.id, task.status, task.provider_slug) == (again.id, "draft", "cpn")
    assert await _tasks_of(db, referral_id) == [("cpn", "draft")]
    actions = (await db.exec(select(AuditEntry.action).where(col(AuditEntry.victim_id) == referral.victim_id))).all()
    assert {"consent.record", "task.add"} <= set(actions)


async def test_an_added_provider_is_checked_for_eligibility(db: AsyncSession, world: World) -> None:
    referral, _ = await make_referral(db, world, providers=("cpn",), consents=[consent_for("cpn", "rape-crisis")])
    assert referral.id is not None
    with pytest.raises(NotEligible):
        await add_referral_task(
            db=db, actor=world.coordinator, referral_id=referral.id, provider_slug="rape-crisis", idempotency_key=key()
        )


async def test_an_unknown_provider_is_a_validation_error(db: AsyncSession, world: World) -> None:
    referral, _ = await make_referral(db, world)
    assert referral.id is not None
    with pytest.raises(ValidationFailed):
        await add_referral_task(
            db=db, actor=world.coordinator, referral_id=referral.id, provider_slug="nobody", idempotency_key=key()
        )


async def test_a_provider_with_an_unfinished_task_is_not_added_twice(db: AsyncSession, world: World) -> None:
    referral, _ = await make_referral(db, world, providers=("cpn",))
    assert referral.id is not None
    with pytest.raises(ValidationFailed):
        await add_referral_task(
            db=db, actor=world.coordinator, referral_id=referral.id, provider_slug="cpn", idempotency_key=key()
        )


async def test_another_hubs_referral_is_not_found_for_either_addition(db: AsyncSession, world: World) -> None:
    referral, _ = await make_referral(db, world, consents=[consent_for("cpn", "rj-hub")])
    referral_id = referral.id
    assert referral_id is not None
    other_hub = _machine_client(world, "hub-2")
    await db.commit()

    with pytest.raises(NotFound):
        await add_referral_task(
            db=db, actor=other_hub, referral_id=referral_id, provider_slug="rj-hub", idempotency_key=key()
        )
    await db.rollback()
    with pytest.raises(NotFound):
        await record_referral_consent(
            db=db, actor=other_hub, referral_id=referral_id, consent=consent_for("rj-hub"), idempotency_key=key()
        )
    await db.rollback()

    assert (await count(db, ReferralTask), await count(db, Consent)) == (1, 1)
    assert await load_intake_items_for_referrals(db=db, actor=other_hub, referral_ids=[referral_id]) == {}


async def test_a_referral_the_hub_made_itself_came_from_no_self_referral(db: AsyncSession, world: World) -> None:
    referral, _ = await make_referral(db, world)
    assert referral.id is not None
    assert await load_intake_items_for_referrals(db=db, actor=world.coordinator, referral_ids=[referral.id]) == {}


async def test_a_hate_crime_self_referral_keeps_its_own_case(db: AsyncSession, world: World) -> None:
    item_id = await _new_item(db, world)
    triage = replace(_triage(), case=case_input(crime=CrimeCategory.HATE_CRIME))
    triaged = await triage_self_referral(
        db=db, actor=world.supervisor, self_referral_id=item_id, referral=triage, idempotency_key=key()
    )
    assert triaged.referral_id is not None
    referral = await db.get(Referral, triaged.referral_id)
    assert referral is not None
    case = await db.get(Case, referral.case_id)
    assert case is not None and (case.crime_category, case.arrival_route) == ("hate-crime", "self-referral")


async def test_a_triage_retried_with_its_key_makes_one_referral(db: AsyncSession, world: World) -> None:
    item_id = await _new_item(db, world)
    retry = key()
    triage = replace(_triage("cpn"), date_of_birth=years_ago(30))

    first = await triage_self_referral(
        db=db, actor=world.coordinator, self_referral_id=item_id, referral=triage, idempotency_key=retry
    )
    again = await triage_self_referral(
        db=db, actor=world.coordinator, self_referral_id=item_id, referral=triage, idempotency_key=retry
    )

    assert (again.id, again.referral_id) == (first.id, first.referral_id)
    assert (await count(db, Referral), await count(db, ReferralTask), await count(db, Consent)) == (1, 1, 1)
