"""Subject access, rectification, legal holds and the audit trail: the officer's tools, and only the officer's."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from gateway.audit.models import AuditCategory
from gateway.auth.principal import Principal, Role
from gateway.data_protection.document import render_html
from gateway.data_protection.service import (
    Correction,
    VictimDetail,
    audit_trail_page,
    lift_legal_hold,
    place_legal_hold,
    rectify_victim,
    subject_access_export,
)
from gateway.db import AsyncSession
from gateway.errors import Forbidden, NotFound, ValidationFailed
from gateway.referrals.service import get_victim_view_for_task, send_task, withdraw_consent
from gateway.victims.models import Victim
from providers.profile import CrimeCategory, Need
from tests.data_protection.year import officer
from tests.support.domain import World, adult_victim, case_input, consent_for, key, make_referral

THREE = ("cpn", "rj-hub", "road-victims-trust")


async def _referred_to_three(db: AsyncSession, world: World) -> tuple[int, dict[str, int], dict[str, int]]:
    """A victim with one consent per provider, all three tasks sent: (victim, task per provider, consent per)."""
    consents = [
        replace(
            consent_for(slug),
            withheld_information="Details of the second incident" if slug == "cpn" else None,
            withheld_reason="Victim asked" if slug == "cpn" else None,
        )
        for slug in THREE
    ]
    referral, drafts = await make_referral(
        db,
        world,
        providers=THREE,
        consents=consents,
        victim=adult_victim(given_name="Ottoline", family_name="Subjectaccess"),
        case=case_input(
            crime=CrimeCategory.ROAD_COLLISION, needs=(Need.MENTAL_HEALTH, Need.RESTORATIVE_JUSTICE_INTEREST)
        ),
    )
    tasks = {}
    for draft in drafts:
        assert draft.id is not None
        sent = await send_task(
            db=db, actor=world.coordinator, task_id=draft.id, expected_version=draft.version, idempotency_key=key()
        )
        tasks[sent.provider_slug] = draft.id
    consent_of = {t.provider_slug: t.consent_id or 0 for t in drafts}
    await db.commit()
    assert referral.victim_id is not None
    return referral.victim_id, tasks, consent_of


async def _provider_reads(db: AsyncSession, world: World, slug: str, task_id: int) -> bool:
    view = await get_victim_view_for_task(db=db, actor=world.caseworker(slug), task_id=task_id)
    await db.commit()
    return not view.redacted


async def test_a_subject_access_export_lists_exactly_the_disclosures_that_happened(
    db: AsyncSession, world: World
) -> None:
    # Given a victim referred to three providers, each of which read the victim's details once
    victim_id, tasks, consents = await _referred_to_three(db, world)
    for slug in THREE:
        assert await _provider_reads(db, world, slug, tasks[slug])
    # and another victim, referred to and read by the first provider
    _, [other] = await make_referral(db, world, providers=("cpn",), victim=adult_victim(given_name="Someoneelse"))
    assert other.id is not None
    await send_task(db=db, actor=world.coordinator, task_id=other.id, expected_version=1, idempotency_key=key())
    await db.commit()
    assert await _provider_reads(db, world, "cpn", other.id)
    # When the RJ hub's consent is withdrawn, after which the RJ hub's read is refused and the CPN reads again
    await withdraw_consent(db=db, actor=world.coordinator, consent_id=consents["rj-hub"], idempotency_key=key())
    await db.commit()
    assert not await _provider_reads(db, world, "rj-hub", tasks["rj-hub"])
    assert await _provider_reads(db, world, "cpn", tasks["cpn"])

    # And the officer exports the victim's records
    export = await subject_access_export(db=db, actor=officer(world), victim_id=victim_id)
    await db.commit()

    # Then the disclosure trail is exactly: three referrals sent, each under its consent, and four reads
    organisation = {world.org_id(slug): slug for slug in THREE}
    assert organisation  # the slugs the export names are the organisations' own
    seen = [(d["organisation"], d["action"], d["task_id"], d["consent_id"]) for d in export["disclosures"]]
    assert seen == [
        *[(slug, "task.send", tasks[slug], consents[slug]) for slug in THREE],
        *[(slug, "victim.view", tasks[slug], consents[slug]) for slug in THREE],
        ("cpn", "victim.view", tasks["cpn"], consents["cpn"]),
    ]
    assert all(d["under"] == "consent" for d in export["disclosures"])
    # And it holds the victim's own records and nothing about the other victim
    text = json.dumps(export)
    assert export["identity"]["given_name"] == "Ottoline"
    assert "Someoneelse" not in text
    assert {t["id"] for t in export["tasks"]} == set(tasks.values())
    assert [c["withdrawn_at"] is not None for c in export["consents"]] == [False, True, False]
    # And the withheld information is marked for review before release
    assert export["review_required"] == ["consents[0].withheld"]
    assert export["consents"][0]["withheld"]["review_required"] is True
    html = render_html(export)
    assert "<title>Subject access export</title>" in html and "Ottoline" in html
    # And the export is itself in the audit trail
    page = await audit_trail_page(
        db=db, actor=officer(world), victim_id=victim_id, categories=[AuditCategory.CONSULTATION]
    )
    assert [r.action for r in page][-1] == "subject-access.export"


async def test_rectification_replaces_the_old_value_records_who_and_why_and_providers_see_it_next_read(
    db: AsyncSession, world: World
) -> None:
    # Given a victim referred to the CPN, who has read their details
    victim_id, tasks, _ = await _referred_to_three(db, world)
    before = await get_victim_view_for_task(db=db, actor=world.caseworker("cpn"), task_id=tasks["cpn"])
    await db.commit()
    assert before.family_name == "Subjectaccess"

    # When the officer corrects the family name and the phone (and the request is retried with the same key)
    retry_key = key()
    corrected = [
        await rectify_victim(
            db=db,
            actor=officer(world),
            victim_id=victim_id,
            corrections=[
                Correction(VictimDetail.FAMILY_NAME, "Rightname"),
                Correction(VictimDetail.PHONE, "07700900999"),
            ],
            reason="The victim told us the Hub misspelt it.",
            idempotency_key=retry_key,
        )
        for _ in range(2)
    ]
    await db.commit()
    assert corrected[0].id == corrected[1].id

    # Then the provider's next read shows the corrected details
    after = await get_victim_view_for_task(db=db, actor=world.caseworker("cpn"), task_id=tasks["cpn"])
    await db.commit()
    assert (after.family_name, after.phone) == ("Rightname", "07700900999")
    # And the old value is nowhere in the export, while who changed which fields, when and why are recorded
    export = await subject_access_export(db=db, actor=officer(world), victim_id=victim_id)
    await db.commit()
    assert "Subjectaccess" not in json.dumps(export)
    [rectified] = export["rectifications"]
    assert rectified["fields"] == ["family_name", "phone"]
    trail = await audit_trail_page(db=db, actor=officer(world), victim_id=victim_id)
    [alteration] = [r for r in trail if r.action == "victim.rectify"]
    assert alteration.actor == "user:77"
    assert alteration.subject_ids["fields"] == ["family_name", "phone"]
    assert "Rightname" not in json.dumps(alteration.subject_ids)


async def test_a_rectification_is_refused_whole_on_a_bad_value(db: AsyncSession, world: World) -> None:
    victim_id, _, _ = await _referred_to_three(db, world)
    with pytest.raises(ValidationFailed) as refused:
        await rectify_victim(
            db=db,
            actor=officer(world),
            victim_id=victim_id,
            corrections=[Correction(VictimDetail.GIVEN_NAME, "   "), Correction(VictimDetail.PHONE, "0")],
            reason="Correction.",
            idempotency_key=key(),
        )
    assert "given name" in refused.value.message
    await db.rollback()
    victim = await db.get(Victim, victim_id)
    assert victim is not None and victim.given_name == "Ottoline"


async def test_the_audit_trail_pages_and_filters_by_time_category_and_organisation(
    db: AsyncSession, world: World
) -> None:
    victim_id, tasks, _ = await _referred_to_three(db, world)
    for slug in THREE:
        await _provider_reads(db, world, slug, tasks[slug])
    everything = await audit_trail_page(db=db, actor=officer(world), victim_id=victim_id, first=100)
    first = await audit_trail_page(db=db, actor=officer(world), victim_id=victim_id, first=2)
    rest = await audit_trail_page(db=db, actor=officer(world), victim_id=victim_id, first=100, after_id=first[-1].id)
    assert [r.id for r in first + rest] == [r.id for r in everything]
    disclosures = await audit_trail_page(
        db=db, actor=officer(world), victim_id=victim_id, categories=[AuditCategory.DISCLOSURE]
    )
    assert len(disclosures) == 6
    cpn = await audit_trail_page(db=db, actor=officer(world), organisation_id=world.org_id("cpn"))
    assert {r.action for r in cpn} == {"task.send", "victim.view"}
    late = everything[-1].occurred_at
    assert (
        await audit_trail_page(db=db, actor=officer(world), victim_id=victim_id, since=late + timedelta(seconds=1))
        == []
    )


OTHER_ROLES = [role for role in Role if role is not Role.DATA_PROTECTION_OFFICER]


@pytest.mark.parametrize("role", OTHER_ROLES, ids=[r.value for r in OTHER_ROLES])
async def test_every_other_role_is_refused_every_tool(db: AsyncSession, world: World, role: Role) -> None:
    victim_id, _, _ = await _referred_to_three(db, world)
    hold = await place_legal_hold(
        db=db, actor=officer(world), victim_id=victim_id, reason="Proceedings.", idempotency_key=key()
    )
    await db.commit()
    assert hold.id is not None
    hold_id = hold.id
    someone: Principal = world.person("hub", role, user_id=5)
    attempts = [
        subject_access_export(db=db, actor=someone, victim_id=victim_id),
        audit_trail_page(db=db, actor=someone, victim_id=victim_id),
        place_legal_hold(db=db, actor=someone, victim_id=victim_id, reason="No.", idempotency_key=key()),
        lift_legal_hold(db=db, actor=someone, hold_id=hold_id, idempotency_key=key()),
        rectify_victim(
            db=db,
            actor=someone,
            victim_id=victim_id,
            corrections=[Correction(VictimDetail.PHONE, "07700900111")],
            reason="No.",
            idempotency_key=key(),
        ),
    ]
    for attempt in attempts:
        with pytest.raises(Forbidden):
            await attempt
    await db.rollback()


async def test_an_officer_of_another_organisation_finds_nothing(db: AsyncSession, world: World) -> None:
    victim_id, _, _ = await _referred_to_three(db, world)
    elsewhere = world.person("opcc", Role.DATA_PROTECTION_OFFICER, user_id=78)
    with pytest.raises(NotFound):
        await subject_access_export(db=db, actor=elsewhere, victim_id=victim_id)
    with pytest.raises(NotFound):
        await audit_trail_page(db=db, actor=elsewhere, victim_id=victim_id)
