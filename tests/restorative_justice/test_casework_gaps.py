"""The gaps found when the RJ casework was tried as a co-ordinator would (issue 17), each held shut on both databases.

Re-keying from a Hub task, facilitators by name, controlled vocabularies, UK local time, longer texts and case
notes, a movable follow-up, conferences recorded afterwards, two-sided consent before booking, booking assigns,
stale bookings cancelled, and missing-consent errors that name the party's role.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from gateway.audit.models import AuditEntry
from gateway.auth.models import User
from gateway.clock import utc_now
from gateway.consent.models import ConsentMethod
from gateway.db import AsyncSession
from gateway.errors import DomainError, ErrorCode
from gateway.referrals.service import accept_task
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.calendar import build_feed
from gateway.restorative_justice.models import (
    AccreditationLevel,
    Conference,
    ConferenceParticipant,
    ConferenceStatus,
    Facilitator,
    HomeAgency,
    InterventionKind,
    PartyRole,
    RiskLevel,
    RjCase,
    RjStage,
    Satisfaction,
)
from tests.restorative_justice.conftest import BuiltCase, RjWorld, new_case, slot, to_preparation
from tests.support.domain import VICTIM_FAMILY_NAME, VICTIM_GIVEN_NAME, World, key, make_sent_task


async def _refused(db: AsyncSession, code: ErrorCode, operation: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as refusal:
        await operation
    await db.rollback()
    assert refusal.value.code is code, refusal.value
    return refusal.value


def _booking(
    built: BuiltCase,
    starts_at: datetime,
    *,
    parties: tuple[int, ...] | None = None,
    facilitators: frozenset[int] = frozenset(),
    venue: str | None = "Parkside Police Station, Room 1",
) -> rj.ConferenceBooking:
    return rj.ConferenceBooking(
        starts_at=starts_at,
        duration_minutes=60,
        venue=venue,
        video_call=venue is None,
        party_ids=frozenset(parties if parties is not None else (built.harmed_id, built.responsible_id)),
        facilitator_ids=facilitators,
    )


async def _case_row(db: AsyncSession, case_id: int) -> RjCase:
    db.expire_all()
    return (await db.exec(select(RjCase).where(col(RjCase.id) == case_id))).one()


async def _third_facilitator(db: AsyncSession, rjw: RjWorld) -> int:
    user = User(
        organisation_id=rjw.rj_hub_id, email="facilitator.d@rj.example", password_hash="!", roles=["rj-facilitator"]
    )
    db.add(user)
    await db.flush()
    assert user.id is not None
    facilitator = await rj.register_facilitator(
        db=db,
        actor=rjw.coordinator_client,
        user_id=user.id,
        display_name="Dana Okafor",
        home_agency=HomeAgency.POLICE,
        accreditation_level=AccreditationLevel.PRACTITIONER,
        accreditation_expires_on=utc_now().date() + timedelta(days=200),
        idempotency_key=key(),
    )
    await db.commit()
    assert facilitator.id is not None
    return facilitator.id


# -- re-keying: a case opened from a Hub task ----------------------------------------------------------------


async def test_a_case_opened_from_a_hub_task_brings_the_harmed_person_in_with_consent_and_links_both_ways(
    db: AsyncSession, world: World, rjw: RjWorld
) -> None:
    # Given the Hub sent the RJ hub a task, with the victim's consent, and the RJ hub accepted it
    sent = await make_sent_task(db, world, "rj-hub")
    assert sent.id is not None
    task_id, task_reference = sent.id, sent.reference
    await accept_task(
        db=db,
        actor=rjw.coordinator,
        task_id=task_id,
        expected_version=sent.version,
        idempotency_key=key(),
    )
    await db.commit()
    # When the co-ordinator opens a case from it
    case = await rj.create_case_from_task(db=db, actor=rjw.coordinator, task_id=task_id, idempotency_key=key())
    await db.commit()
    assert case.id is not None
    case_id = case.id
    # Then the person harmed is already a party, consenting as they did to the Hub, and reachable safely
    detail = await rj.get_case_detail(db=db, actor=rjw.coordinator, case_id=case_id)
    await db.commit()
    assert [(p.role, p.given_name, p.family_name, p.phone, p.consent_method, p.willing) for p in detail.parties] == [
        ("harmed", VICTIM_GIVEN_NAME, VICTIM_FAMILY_NAME, "07700900001", ConsentMethod.VERBAL.value, True)
    ]
    harmed = detail.parties[0]
    assert harmed.consent_given_at is not None
    assert harmed.safe_contact_notes is not None and "Do not leave voicemail." in harmed.safe_contact_notes
    # And the case names its task, and the task leads back to the case
    assert detail.task_reference == task_reference
    assert (await rj.case_for_task(db=db, actor=rjw.coordinator, task_id=task_id)).id == case_id
    # And bringing the victim in was audited as a collection for the case
    brought = (await db.exec(select(AuditEntry).where(col(AuditEntry.action) == "rj.party.from-task"))).all()
    assert [(r.category, r.subject_ids) for r in brought] == [
        ("collection", {"rj_case": case_id, "rj_party": harmed.id})
    ]


async def test_a_case_is_found_by_its_reference_only_by_those_who_may_see_it(db: AsyncSession, rjw: RjWorld) -> None:
    built = await new_case(db, rjw)
    found = await rj.find_case_by_reference(db=db, actor=rjw.coordinator, reference=f"  {built.reference.lower()} ")
    assert found.id == built.id
    await _refused(
        db,
        ErrorCode.NOT_FOUND,
        rj.find_case_by_reference(db=db, actor=rjw.as_facilitator_b, reference=built.reference),
    )


# -- facilitators by name ------------------------------------------------------------------------------------


async def test_facilitators_are_chosen_and_listed_by_name_agency_accreditation_and_expiry(
    db: AsyncSession, rjw: RjWorld
) -> None:
    # Given a member of the hub with the facilitator role, not yet registered, and one without the role
    for email, roles in (("new.facilitator@rj.example", ["rj-facilitator"]), ("admin@rj.example", ["rj-coordinator"])):
        db.add(User(organisation_id=rjw.rj_hub_id, email=email, password_hash="!", roles=roles))
    await db.commit()
    # Then only the first is offered for registration
    candidates = await rj.list_facilitator_candidates(db=db, actor=rjw.coordinator)
    assert [c.email for c in candidates] == ["new.facilitator@rj.example"]
    # When registered with a name
    expires = utc_now().date() + timedelta(days=30)
    registered = await rj.register_facilitator(
        db=db,
        actor=rjw.coordinator,
        user_id=candidates[0].user_id,
        display_name="Aisha Khan",
        home_agency=HomeAgency.YOUTH_JUSTICE_SERVICE,
        accreditation_level=AccreditationLevel.COMPLEX_AND_SENSITIVE,
        accreditation_expires_on=expires,
        idempotency_key=key(),
    )
    await db.commit()
    # Then the list shows them by name first, with agency, level and expiry, and they are no longer a candidate
    listed = await rj.list_facilitators(db=db, actor=rjw.coordinator)
    assert (listed[0].id, listed[0].display_name, listed[0].home_agency, listed[0].accreditation_level) == (
        registered.id,
        "Aisha Khan",
        "youth-justice-service",
        "complex-and-sensitive",
    )
    assert listed[0].accreditation_expires_on == expires
    assert await rj.list_facilitator_candidates(db=db, actor=rjw.coordinator) == []


# -- controlled vocabularies ---------------------------------------------------------------------------------


async def test_risk_level_home_agency_and_accreditation_level_accept_only_their_terms(
    db: AsyncSession, rjw: RjWorld
) -> None:
    built = await new_case(db, rjw)
    await rj.record_initial_contact(
        db=db, actor=rjw.coordinator, case_id=built.id, contacted_at=utc_now(), idempotency_key=key()
    )
    await db.commit()
    await _refused(
        db,
        ErrorCode.VALIDATION,
        rj.record_assessment(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            suitable=True,
            risk_level="x",  # type: ignore[arg-type]
            idempotency_key=key(),
        ),
    )
    assert (await _case_row(db, built.id)).risk_level is None
    await _refused(
        db,
        ErrorCode.VALIDATION,
        rj.renew_accreditation(
            db=db,
            actor=rjw.coordinator,
            facilitator_id=rjw.facilitator_a_id,
            level="x",  # type: ignore[arg-type]
            expires_on=utc_now().date() + timedelta(days=9),
            idempotency_key=key(),
        ),
    )
    user = User(organisation_id=rjw.rj_hub_id, email="x@rj.example", password_hash="!", roles=["rj-facilitator"])
    db.add(user)
    await db.commit()
    assert user.id is not None
    user_id = user.id
    await _refused(
        db,
        ErrorCode.VALIDATION,
        rj.register_facilitator(
            db=db,
            actor=rjw.coordinator,
            user_id=user_id,
            home_agency="x",  # type: ignore[arg-type]
            accreditation_level=AccreditationLevel.TRAINEE,
            accreditation_expires_on=utc_now().date(),
            idempotency_key=key(),
        ),
    )
    assert (await db.exec(select(Facilitator).where(col(Facilitator.user_id) == user_id))).first() is None
    assessed = await rj.record_assessment(
        db=db, actor=rjw.coordinator, case_id=built.id, suitable=True, risk_level=RiskLevel.HIGH, idempotency_key=key()
    )
    assert assessed.risk_level == "high"


# -- UK local time -------------------------------------------------------------------------------------------


async def test_times_without_a_zone_are_uk_local_time_and_the_feed_carries_the_zone(
    db: AsyncSession, rjw: RjWorld
) -> None:
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    year = utc_now().year + 1
    # When conferences are booked at 10:00 on a July day (BST) and a January day (GMT), typed without a zone
    summer = await rj.schedule_conference(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        booking=_booking(built, datetime(year, 7, 1, 10, 0)),  # noqa: DTZ001 (a wall-clock time, as typed)
        idempotency_key=key(),
    )
    winter = await rj.schedule_conference(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        booking=_booking(built, datetime(year, 1, 14, 10, 0)),  # noqa: DTZ001
        idempotency_key=key(),
    )
    await db.commit()
    # Then they are stored in UTC as 09:00 and 10:00
    assert (summer.starts_at.hour, winter.starts_at.hour) == (9, 10)
    # And facilitator A's feed shows both at 10:00 in the Europe/London zone, with the zone's definition
    issued = await rj.rotate_feed_token(db=db, actor=rjw.as_facilitator_a)
    await db.commit()
    found = await rj.feed_for_token(db=db, token=issued.token)
    assert found is not None
    feed = build_feed(uid_domain="test", conferences=found[1], generated_at=utc_now()).decode()
    assert f"DTSTART;TZID=Europe/London:{year}0701T100000" in feed
    assert f"DTSTART;TZID=Europe/London:{year}0114T100000" in feed
    assert "BEGIN:VTIMEZONE" in feed and "TZID:Europe/London" in feed


# -- longer texts and case notes -----------------------------------------------------------------------------


async def test_safe_contact_notes_and_reasons_take_long_texts_and_stay_bounded(db: AsyncSession, rjw: RjWorld) -> None:
    built = await new_case(db, rjw)
    long_notes = "Only call the mobile on weekday mornings; never mention the case to anyone else. " * 18
    assert 1000 < len(long_notes) <= 2000
    party = await rj.add_party(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        party=rj.PartyInput(
            role=PartyRole.SUPPORTER,
            given_name="Sam",
            family_name="Supporter",
            safe_contact_notes=long_notes,
            supports_party_id=built.harmed_id,
        ),
        idempotency_key=key(),
    )
    await db.commit()
    assert party.safe_contact_notes == long_notes.strip()
    await _refused(
        db,
        ErrorCode.VALIDATION,
        rj.add_party(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            party=rj.PartyInput(role=PartyRole.HARMED, given_name="A", family_name="B", safe_contact_notes="x" * 2001),
            idempotency_key=key(),
        ),
    )
    await to_preparation(db, rjw, built)
    conference = await rj.schedule_conference(
        db=db, actor=rjw.coordinator, case_id=built.id, booking=_booking(built, slot(7, 10)), idempotency_key=key()
    )
    await db.commit()
    assert conference.id is not None
    reason = "The venue flooded overnight and the alternative room is not accessible. " * 12
    assert 200 < len(reason) <= 1000
    cancelled = await rj.cancel_conference(
        db=db, actor=rjw.coordinator, conference_id=conference.id, reason=reason, idempotency_key=key()
    )
    await db.commit()
    assert cancelled.status_reason == reason.strip()


async def test_case_notes_record_who_when_and_what_are_audited_and_never_leave_in_the_feed(
    db: AsyncSession, rjw: RjWorld
) -> None:
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    await rj.schedule_conference(
        db=db, actor=rjw.coordinator, case_id=built.id, booking=_booking(built, slot(7, 10)), idempotency_key=key()
    )
    # When the lead facilitator writes a note
    text = "Spoke to the person harmed: prefers the conference after school pick-up."
    note = await rj.add_case_note(db=db, actor=rjw.as_facilitator_a, case_id=built.id, text=text, idempotency_key=key())
    await db.commit()
    assert note.id is not None
    note_id = note.id
    # Then the case shows who wrote it, when, and what
    detail = await rj.get_case_detail(db=db, actor=rjw.coordinator, case_id=built.id)
    await db.commit()
    assert [(n.text, n.written_by) for n in detail.notes] == [(text, f"user:{rjw.user_a}")]
    assert detail.notes[0].written_at is not None
    # And writing and reading it are audited, by id only
    written = (await db.exec(select(AuditEntry).where(col(AuditEntry.action) == "rj.case.note"))).all()
    assert [(r.category, r.subject_ids) for r in written] == [("collection", {"rj_case": built.id, "rj_note": note_id})]
    reads = (await db.exec(select(AuditEntry).where(col(AuditEntry.action) == "rj.case.read"))).all()
    assert reads[-1].subject_ids["rj_notes"] == [note_id]
    assert all(text not in str(r.subject_ids) for r in [*written, *reads])
    # And a facilitator not on the case cannot write one
    await _refused(
        db,
        ErrorCode.NOT_FOUND,
        rj.add_case_note(db=db, actor=rjw.as_facilitator_b, case_id=built.id, text="x", idempotency_key=key()),
    )
    # And the calendar feed carries nothing of it
    issued = await rj.rotate_feed_token(db=db, actor=rjw.as_facilitator_a)
    await db.commit()
    found = await rj.feed_for_token(db=db, token=issued.token)
    assert found is not None and len(found[1]) == 1
    feed = build_feed(uid_domain="test", conferences=found[1], generated_at=utc_now()).decode()
    assert "school" not in feed


# -- follow-up -----------------------------------------------------------------------------------------------


async def _delivered(db: AsyncSession, rjw: RjWorld) -> BuiltCase:
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    await rj.record_intervention(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        kind=InterventionKind.LETTER_OF_EXPLANATION,
        delivered_at=utc_now(),
        idempotency_key=key(),
    )
    await db.commit()
    return built


async def test_a_follow_up_date_can_be_changed_and_the_follow_up_recorded_before_it(
    db: AsyncSession, rjw: RjWorld
) -> None:
    built = await _delivered(db, rjw)
    today = rj.uk_today()
    await rj.schedule_follow_up(
        db=db, actor=rjw.coordinator, case_id=built.id, follow_up_on=today + timedelta(days=28), idempotency_key=key()
    )
    # When the date is moved
    moved = await rj.schedule_follow_up(
        db=db, actor=rjw.coordinator, case_id=built.id, follow_up_on=today + timedelta(days=42), idempotency_key=key()
    )
    await db.commit()
    assert (moved.stage, moved.follow_up_due_on) == (RjStage.FOLLOW_UP.value, today + timedelta(days=42))
    # And the follow-up happens early, it is recorded
    recorded = await rj.record_follow_up(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        harmed_satisfaction=Satisfaction.SATISFIED,
        idempotency_key=key(),
    )
    await db.commit()
    assert recorded.follow_up_at is not None
    # And once recorded, its date no longer moves
    await _refused(
        db,
        ErrorCode.INVALID_TRANSITION,
        rj.schedule_follow_up(
            db=db, actor=rjw.coordinator, case_id=built.id, follow_up_on=today, idempotency_key=key()
        ),
    )


# -- after the fact ------------------------------------------------------------------------------------------


async def test_a_conference_that_already_happened_is_recorded_with_attendance_and_flagged(
    db: AsyncSession, rjw: RjWorld
) -> None:
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    held_at = utc_now() - timedelta(days=2)
    # A booking in the past is still refused, pointing to recording it afterwards
    await _refused(
        db,
        ErrorCode.VALIDATION,
        rj.schedule_conference(
            db=db, actor=rjw.coordinator, case_id=built.id, booking=_booking(built, held_at), idempotency_key=key()
        ),
    )
    # When it is recorded afterwards, with the person harmed attending and the person responsible not
    conference = await rj.record_past_conference(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        booking=_booking(built, held_at),
        attended_party_ids=frozenset({built.harmed_id}),
        idempotency_key=key(),
    )
    await db.commit()
    assert conference.id is not None
    conference_id = conference.id
    # Then it is held, flagged as entered afterwards, with its attendance
    assert (conference.status, conference.recorded_afterwards) == (ConferenceStatus.HELD.value, True)
    attendance = (
        await db.exec(
            select(ConferenceParticipant.party_id, ConferenceParticipant.attended).where(
                col(ConferenceParticipant.conference_id) == conference_id
            )
        )
    ).all()
    assert sorted(attendance) == sorted([(built.harmed_id, True), (built.responsible_id, False)])
    # And it counts as the direct intervention
    case = await rj.record_intervention(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        kind=InterventionKind.DIRECT_CONFERENCE,
        conference_id=conference_id,
        delivered_at=held_at,
        idempotency_key=key(),
    )
    await db.commit()
    assert case.stage == RjStage.INTERVENTION.value
    # And one not yet started cannot be recorded as held
    await _refused(
        db,
        ErrorCode.VALIDATION,
        rj.record_past_conference(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            booking=_booking(built, slot(3, 10)),
            attended_party_ids=frozenset(),
            idempotency_key=key(),
        ),
    )


# -- two-sided consent, and errors that name the role --------------------------------------------------------


async def test_a_conference_needs_every_harmed_and_responsible_partys_consent_and_says_whose_is_missing(
    db: AsyncSession, rjw: RjWorld
) -> None:
    # Given a prepared case whose person responsible then says they are no longer willing
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    await rj.record_party_consent(
        db=db,
        actor=rjw.coordinator,
        party_id=built.responsible_id,
        method=ConsentMethod.VERBAL,
        willing=False,
        idempotency_key=key(),
    )
    await db.commit()
    # When a conference is booked with the person harmed only
    refusal = await _refused(
        db,
        ErrorCode.RESPONSIBLE_CONSENT_REQUIRED,
        rj.schedule_conference(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            booking=_booking(built, slot(7, 10), parties=(built.harmed_id,)),
            idempotency_key=key(),
        ),
    )
    # Then it is refused with a code naming the role and a message naming no one
    assert "person responsible" in refusal.message and "Thistlewood" not in refusal.message
    assert (await db.exec(select(Conference.id))).all() == []
    # And a preparation meeting with them is refused the same way
    await _refused(
        db,
        ErrorCode.RESPONSIBLE_CONSENT_REQUIRED,
        rj.record_preparation_meeting(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            party_id=built.responsible_id,
            held_at=utc_now(),
            idempotency_key=key(),
        ),
    )


async def test_indirect_work_needs_one_consenting_prepared_person_on_each_side(db: AsyncSession, rjw: RjWorld) -> None:
    # Given a prepared case with a second person harmed who has not consented
    built = await new_case(db, rjw)
    second = await rj.add_party(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        party=rj.PartyInput(role=PartyRole.HARMED, given_name="Second", family_name="Person"),
        idempotency_key=key(),
    )
    await db.commit()
    assert second.id is not None
    await to_preparation(db, rjw, built)
    # Then a direct conference is refused, naming the role whose consent is missing
    await _refused(
        db,
        ErrorCode.HARMED_CONSENT_REQUIRED,
        rj.schedule_conference(
            db=db, actor=rjw.coordinator, case_id=built.id, booking=_booking(built, slot(7, 10)), idempotency_key=key()
        ),
    )
    # But a letter between those who consented goes ahead
    case = await rj.record_intervention(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        kind=InterventionKind.LETTER_OF_EXPLANATION,
        delivered_at=utc_now(),
        idempotency_key=key(),
    )
    await db.commit()
    assert case.stage == RjStage.INTERVENTION.value


# -- booking assigns -----------------------------------------------------------------------------------------


async def test_booking_a_facilitator_assigns_them_to_the_case_or_is_refused(db: AsyncSession, rjw: RjWorld) -> None:
    # Given a case led by A with no co-facilitator
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    # When a conference is booked with A and B
    await rj.schedule_conference(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        booking=_booking(built, slot(7, 10), facilitators=frozenset({rjw.facilitator_a_id, rjw.facilitator_b_id})),
        idempotency_key=key(),
    )
    await db.commit()
    # Then B is the co-facilitator, and can open the case their calendar shows
    case = await _case_row(db, built.id)
    assert (case.lead_facilitator_id, case.co_facilitator_id) == (rjw.facilitator_a_id, rjw.facilitator_b_id)
    assert (await rj.get_case(db=db, actor=rjw.as_facilitator_b, case_id=built.id)).id == built.id
    # And a third facilitator cannot be booked while both places are held
    third = await _third_facilitator(db, rjw)
    await _refused(
        db,
        ErrorCode.VALIDATION,
        rj.schedule_conference(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            booking=_booking(built, slot(8, 10), facilitators=frozenset({third})),
            idempotency_key=key(),
        ),
    )
    case = await _case_row(db, built.id)
    assert (case.lead_facilitator_id, case.co_facilitator_id) == (rjw.facilitator_a_id, rjw.facilitator_b_id)
    assert len((await db.exec(select(Conference.id))).all()) == 1


# -- stale bookings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("next_step", ["agreement", "follow-up"])
async def test_scheduled_conferences_are_cancelled_when_the_case_moves_on(
    db: AsyncSession, rjw: RjWorld, next_step: str
) -> None:
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    booked = await rj.schedule_conference(
        db=db, actor=rjw.coordinator, case_id=built.id, booking=_booking(built, slot(7, 10)), idempotency_key=key()
    )
    await db.commit()
    conference_id = booked.id
    await rj.record_intervention(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        kind=InterventionKind.SHUTTLE_MESSAGE,
        delivered_at=utc_now(),
        idempotency_key=key(),
    )
    # Still needed while the intervention goes on
    db.expire_all()
    assert (await db.get(Conference, conference_id)).status == "scheduled"  # type: ignore[union-attr]
    if next_step == "agreement":
        await rj.record_outcome_agreement(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            actions=[rj.ActionInput("Write an apology", built.responsible_id, rj.uk_today() + timedelta(days=9))],
            idempotency_key=key(),
        )
    else:
        await rj.schedule_follow_up(
            db=db, actor=rjw.coordinator, case_id=built.id, follow_up_on=rj.uk_today(), idempotency_key=key()
        )
    await db.commit()
    db.expire_all()
    conference = await db.get(Conference, conference_id)
    assert conference is not None
    assert (conference.status, conference.status_reason) == ("cancelled", "case-moved-on")
