"""RJ casework rules on both databases: conflicts, accreditation, the supervisor gate, withdrawal, stage order."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta

import pytest
from sqlmodel import col, select

from gateway.audit.models import AuditEntry
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import DomainError, ErrorCode
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import (
    AccreditationLevel,
    ClosureReason,
    Conference,
    ConferenceStatus,
    InterventionKind,
    RiskLevel,
    RjCase,
    RjStage,
    Satisfaction,
)
from providers.profile import CrimeCategory
from tests.restorative_justice.conftest import BuiltCase, RjWorld, new_case, slot, to_assessment, to_preparation
from tests.support.domain import key


async def _book(
    db: AsyncSession,
    rjw: RjWorld,
    built: BuiltCase,
    *,
    starts_hour: int,
    minutes: int = 60,
    venue: str | None = "Parkside Police Station, Room 1",
    parties: tuple[int, ...] | None = None,
    facilitators: frozenset[int] = frozenset(),
) -> Conference:
    party_ids = parties if parties is not None else (built.harmed_id, built.responsible_id)
    conference = await rj.schedule_conference(
        db=db,
        actor=rjw.coordinator_client,
        case_id=built.id,
        booking=rj.ConferenceBooking(
            starts_at=slot(7, starts_hour),
            duration_minutes=minutes,
            venue=venue,
            video_call=venue is None,
            party_ids=frozenset(party_ids),
            facilitator_ids=facilitators,
        ),
        idempotency_key=key(),
    )
    await db.commit()
    return conference


async def _refused(db: AsyncSession, code: ErrorCode, operation: Awaitable[object]) -> None:
    with pytest.raises(DomainError) as refusal:
        await operation
    await db.rollback()
    assert refusal.value.code is code


async def _conference_count(db: AsyncSession) -> int:
    return len((await db.exec(select(Conference.id))).all())


# -- scheduling conflicts ------------------------------------------------------------------------------------


async def test_a_facilitator_already_booked_at_that_time_is_refused(db: AsyncSession, rjw: RjWorld) -> None:
    # Given facilitator A leads two cases and is booked 10:00-11:00 for the first
    first, second = await new_case(db, rjw), await new_case(db, rjw, names=(("Ann", "One"), ("Bo", "Two")))
    await to_preparation(db, rjw, first)
    await to_preparation(db, rjw, second)
    await _book(db, rjw, first, starts_hour=10)
    # When the second case is booked 10:30-11:30 at another venue, with other parties, led by A
    booking = rj.ConferenceBooking(
        starts_at=slot(7, 10, 30),
        duration_minutes=60,
        venue="Another venue",
        video_call=False,
        party_ids=frozenset({second.harmed_id, second.responsible_id}),
    )
    # Then it is refused as a facilitator double-booking and nothing is written
    await _refused(
        db,
        ErrorCode.FACILITATOR_DOUBLE_BOOKED,
        rj.schedule_conference(
            db=db, actor=rjw.coordinator_client, case_id=second.id, booking=booking, idempotency_key=key()
        ),
    )
    assert await _conference_count(db) == 1


async def test_a_party_already_booked_at_that_time_is_refused(db: AsyncSession, rjw: RjWorld) -> None:
    # Given the person harmed is booked 10:00-11:00 with facilitator A
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    await _book(db, rjw, built, starts_hour=10)
    # When a second conference of the same case overlaps, with facilitator B at another venue
    booking = rj.ConferenceBooking(
        starts_at=slot(7, 10, 59),
        duration_minutes=30,
        venue="Another venue",
        video_call=False,
        party_ids=frozenset({built.harmed_id}),
        facilitator_ids=frozenset({rjw.facilitator_b_id}),
    )
    # Then it is refused because the party is already booked
    await _refused(
        db,
        ErrorCode.PARTY_DOUBLE_BOOKED,
        rj.schedule_conference(
            db=db, actor=rjw.coordinator_client, case_id=built.id, booking=booking, idempotency_key=key()
        ),
    )
    assert await _conference_count(db) == 1


async def test_a_venue_already_taken_is_refused_whatever_its_spelling(db: AsyncSession, rjw: RjWorld) -> None:
    # Given Room 1 is booked 10:00-11:00 for one case
    first = await new_case(db, rjw)
    second = await new_case(db, rjw, lead=rjw.facilitator_b_id, names=(("Ann", "One"), ("Bo", "Two")))
    await to_preparation(db, rjw, first)
    await to_preparation(db, rjw, second)
    await _book(db, rjw, first, starts_hour=10)
    # When another case, other parties, other facilitator, asks for the same room spelled differently
    booking = rj.ConferenceBooking(
        starts_at=slot(7, 9, 30),
        duration_minutes=45,
        venue="  parkside police station,   ROOM 1 ",
        video_call=False,
        party_ids=frozenset({second.harmed_id, second.responsible_id}),
    )
    # Then the venue is taken
    await _refused(
        db,
        ErrorCode.VENUE_TAKEN,
        rj.schedule_conference(
            db=db, actor=rjw.coordinator_client, case_id=second.id, booking=booking, idempotency_key=key()
        ),
    )
    assert await _conference_count(db) == 1


async def test_back_to_back_bookings_of_the_same_people_and_room_are_accepted(db: AsyncSession, rjw: RjWorld) -> None:
    # Given a conference 10:00-11:00 in Room 1 with facilitator A and both parties
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    first = await _book(db, rjw, built, starts_hour=10)
    # When the same people and room are booked from 11:00, when the first ends (intervals are half-open)
    second = await rj.schedule_conference(
        db=db,
        actor=rjw.coordinator_client,
        case_id=built.id,
        booking=rj.ConferenceBooking(
            starts_at=first.ends_at,
            duration_minutes=60,
            venue="Parkside Police Station, Room 1",
            video_call=False,
            party_ids=frozenset({built.harmed_id, built.responsible_id}),
        ),
        idempotency_key=key(),
    )
    await db.commit()
    # Then both stand
    assert second.status == ConferenceStatus.SCHEDULED.value
    assert await _conference_count(db) == 2


async def test_a_cancelled_conference_frees_its_slot_and_rescheduling_checks_clashes(
    db: AsyncSession, rjw: RjWorld
) -> None:
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    first_id = (await _book(db, rjw, built, starts_hour=10)).id or 0
    later_id = (await _book(db, rjw, built, starts_hour=14)).id or 0
    # Moving the later one onto the first clashes
    await _refused(
        db,
        ErrorCode.FACILITATOR_DOUBLE_BOOKED,
        rj.reschedule_conference(
            db=db,
            actor=rjw.coordinator_client,
            conference_id=later_id,
            starts_at=slot(7, 10, 15),
            duration_minutes=30,
            reason="Venue heating fault",
            idempotency_key=key(),
        ),
    )
    # Once the first is cancelled with a reason, the move is accepted
    cancelled = await rj.cancel_conference(
        db=db,
        actor=rjw.coordinator_client,
        conference_id=first_id,
        reason="Person harmed unwell",
        idempotency_key=key(),
    )
    moved = await rj.reschedule_conference(
        db=db,
        actor=rjw.coordinator_client,
        conference_id=later_id,
        starts_at=slot(7, 10, 15),
        duration_minutes=30,
        reason="Venue heating fault",
        idempotency_key=key(),
    )
    await db.commit()
    assert (cancelled.status, cancelled.status_reason) == ("cancelled", "Person harmed unwell")
    assert (moved.starts_at, moved.sequence, moved.status_reason) == (slot(7, 10, 15), 1, "Venue heating fault")


# -- accreditation -------------------------------------------------------------------------------------------


async def test_a_facilitator_whose_accreditation_has_expired_cannot_be_assigned(db: AsyncSession, rjw: RjWorld) -> None:
    built = await new_case(db, rjw)
    await _refused(
        db,
        ErrorCode.ACCREDITATION_EXPIRED,
        rj.assign_facilitators(
            db=db,
            actor=rjw.coordinator_client,
            case_id=built.id,
            lead_facilitator_id=rjw.facilitator_a_id,
            co_facilitator_id=rjw.facilitator_expired_id,
            idempotency_key=key(),
        ),
    )
    case = (await db.exec(select(RjCase).where(col(RjCase.id) == built.id))).one()
    assert (case.lead_facilitator_id, case.co_facilitator_id) == (rjw.facilitator_a_id, None)


async def test_a_facilitator_accredited_today_but_expired_by_the_conference_cannot_be_booked(
    db: AsyncSession, rjw: RjWorld
) -> None:
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    await rj.renew_accreditation(
        db=db,
        actor=rjw.coordinator_client,
        facilitator_id=rjw.facilitator_b_id,
        level=AccreditationLevel.ACCREDITED_PRACTITIONER,
        expires_on=utc_now().date() + timedelta(days=3),
        idempotency_key=key(),
    )
    await db.commit()
    await _refused(
        db,
        ErrorCode.ACCREDITATION_EXPIRED,
        rj.schedule_conference(
            db=db,
            actor=rjw.coordinator_client,
            case_id=built.id,
            booking=rj.ConferenceBooking(
                starts_at=slot(7, 10),
                duration_minutes=60,
                venue=None,
                video_call=True,
                party_ids=frozenset({built.harmed_id}),
                facilitator_ids=frozenset({rjw.facilitator_b_id}),
            ),
            idempotency_key=key(),
        ),
    )
    assert await _conference_count(db) == 0


# -- the case-supervisor gate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "crime", [CrimeCategory.DOMESTIC_ABUSE, CrimeCategory.SEXUAL_OFFENCE, CrimeCategory.HATE_CRIME]
)
async def test_a_sensitive_case_cannot_progress_until_a_case_supervisor_other_than_the_assessor_approves(
    db: AsyncSession, rjw: RjWorld, crime: CrimeCategory
) -> None:
    # Given a sensitive case assessed suitable by co-ordinator 9001
    built = await new_case(db, rjw, crime=crime)
    assert built.sensitive is True
    await to_assessment(db, rjw, built, assessor=rjw.coordinator)
    harmed_id = built.harmed_id

    def prepare() -> Awaitable[RjCase]:
        return rj.record_preparation_meeting(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            party_id=harmed_id,
            held_at=utc_now(),
            idempotency_key=key(),
        )

    # Then preparation is refused until approval
    await _refused(db, ErrorCode.SUPERVISOR_APPROVAL_REQUIRED, prepare())
    # And the assessor cannot approve their own assessment, nor can a machine client (no person, no role)
    await _refused(
        db,
        ErrorCode.FORBIDDEN,
        rj.approve_assessment(db=db, actor=rjw.coordinator, case_id=built.id, idempotency_key=key()),
    )
    await _refused(
        db,
        ErrorCode.FORBIDDEN,
        rj.approve_assessment(db=db, actor=rjw.coordinator_client, case_id=built.id, idempotency_key=key()),
    )
    await _refused(db, ErrorCode.SUPERVISOR_APPROVAL_REQUIRED, prepare())
    # When another RJ co-ordinator approves
    approved = await rj.approve_assessment(db=db, actor=rjw.supervisor, case_id=built.id, idempotency_key=key())
    assert approved.approved_by == "user:9002"
    # Then preparation goes ahead
    case = await prepare()
    await db.commit()
    assert case.stage == RjStage.PREPARATION.value


async def test_re_assessing_clears_the_approval_and_closes_the_gate_again(db: AsyncSession, rjw: RjWorld) -> None:
    built = await new_case(db, rjw, crime=CrimeCategory.DOMESTIC_ABUSE)
    await to_assessment(db, rjw, built, assessor=rjw.coordinator)
    await rj.approve_assessment(db=db, actor=rjw.supervisor, case_id=built.id, idempotency_key=key())
    reassessed = await rj.record_assessment(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        suitable=True,
        risk_level=RiskLevel.MEDIUM,
        idempotency_key=key(),
    )
    await db.commit()
    assert (reassessed.approved_at, reassessed.approved_by) == (None, None)
    await _refused(
        db,
        ErrorCode.SUPERVISOR_APPROVAL_REQUIRED,
        rj.record_preparation_meeting(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            party_id=built.harmed_id,
            held_at=utc_now(),
            idempotency_key=key(),
        ),
    )


async def test_a_case_that_is_not_sensitive_needs_no_approval_and_cannot_be_given_one(
    db: AsyncSession, rjw: RjWorld
) -> None:
    built = await new_case(db, rjw, crime=CrimeCategory.BURGLARY)
    assert built.sensitive is False
    await to_assessment(db, rjw, built, assessor=rjw.coordinator)
    await _refused(
        db,
        ErrorCode.INVALID_TRANSITION,
        rj.approve_assessment(db=db, actor=rjw.supervisor, case_id=built.id, idempotency_key=key()),
    )
    case = await rj.record_preparation_meeting(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        party_id=built.harmed_id,
        held_at=utc_now(),
        idempotency_key=key(),
    )
    await db.commit()
    assert (case.stage, case.approved_at) == (RjStage.PREPARATION.value, None)


# -- withdrawal ----------------------------------------------------------------------------------------------


async def test_a_party_withdrawing_halts_the_case_cancels_its_conferences_and_is_audited(
    db: AsyncSession, rjw: RjWorld
) -> None:
    # Given a prepared case with a scheduled conference
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    conference = await _book(db, rjw, built, starts_hour=10)
    harmed_id = built.harmed_id
    # When the person harmed withdraws (told to their facilitator)
    await rj.withdraw_party(db=db, actor=rjw.as_facilitator_a, party_id=harmed_id, idempotency_key=key())
    await db.commit()
    # Then the case is halted, the conference cancelled with the reason, and the withdrawal is in the audit log
    case = (await db.exec(select(RjCase).where(col(RjCase.id) == built.id))).one()
    await db.refresh(conference)
    assert case.halted_at is not None
    assert (conference.status, conference.status_reason) == ("cancelled", "party-withdrew")
    rows = (await db.exec(select(AuditEntry).where(col(AuditEntry.action) == "rj.party.withdraw"))).all()
    assert [(r.category, r.actor, r.subject_ids) for r in rows] == [
        (
            "alteration",
            f"user:{rjw.user_a}",
            {"rj_case": built.id, "rj_party": harmed_id, "cancelled_conferences": [conference.id]},
        )
    ]
    # And nothing moves forward: another meeting, a conference, an intervention are refused as halted
    await _refused(
        db,
        ErrorCode.CASE_HALTED,
        rj.record_intervention(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            kind=InterventionKind.LETTER_OF_EXPLANATION,
            delivered_at=utc_now(),
            idempotency_key=key(),
        ),
    )
    # And it closes only with a reason that is true of it
    await _refused(
        db,
        ErrorCode.INVALID_TRANSITION,
        rj.close_case(
            db=db,
            actor=rjw.coordinator_client,
            case_id=built.id,
            reason=ClosureReason.RESPONSIBLE_WITHDREW,
            idempotency_key=key(),
        ),
    )
    closed = await rj.close_case(
        db=db,
        actor=rjw.coordinator_client,
        case_id=built.id,
        reason=ClosureReason.HARMED_WITHDREW,
        idempotency_key=key(),
    )
    await db.commit()
    assert (closed.stage, closed.closure_reason) == ("closed", "harmed-withdrew")


# -- stage order ---------------------------------------------------------------------------------------------


async def test_out_of_order_moves_are_refused_as_invalid_transitions(db: AsyncSession, rjw: RjWorld) -> None:
    built = await new_case(db, rjw)
    # Assessment before initial contact
    await _refused(
        db,
        ErrorCode.INVALID_TRANSITION,
        rj.record_assessment(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            suitable=True,
            risk_level=RiskLevel.LOW,
            idempotency_key=key(),
        ),
    )
    await to_assessment(db, rjw, built, assessor=rjw.coordinator)
    # An intervention straight after assessment, without preparation
    await _refused(
        db,
        ErrorCode.INVALID_TRANSITION,
        rj.record_intervention(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            kind=InterventionKind.SHUTTLE_MESSAGE,
            delivered_at=utc_now(),
            idempotency_key=key(),
        ),
    )
    # Completion before any follow-up
    await _refused(
        db,
        ErrorCode.INVALID_TRANSITION,
        rj.close_case(
            db=db, actor=rjw.coordinator_client, case_id=built.id, reason=ClosureReason.COMPLETED, idempotency_key=key()
        ),
    )
    case = (await db.exec(select(RjCase).where(col(RjCase.id) == built.id))).one()
    assert case.stage == RjStage.ASSESSMENT.value


async def test_an_intervention_needs_every_party_prepared(db: AsyncSession, rjw: RjWorld) -> None:
    built = await new_case(db, rjw)
    await to_assessment(db, rjw, built, assessor=rjw.coordinator)
    await rj.record_preparation_meeting(
        db=db,
        actor=rjw.coordinator,
        case_id=built.id,
        party_id=built.harmed_id,
        held_at=utc_now(),
        idempotency_key=key(),
    )
    await db.commit()
    await _refused(
        db,
        ErrorCode.INVALID_TRANSITION,
        rj.record_intervention(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            kind=InterventionKind.LETTER_OF_EXPLANATION,
            delivered_at=utc_now(),
            idempotency_key=key(),
        ),
    )


async def test_a_case_runs_its_whole_course_and_is_counted_for_the_grant(db: AsyncSession, rjw: RjWorld) -> None:
    # Given a prepared case
    quarter_start = utc_now() - timedelta(days=1)
    built = await new_case(db, rjw)
    await to_preparation(db, rjw, built)
    actor = rjw.as_facilitator_a
    # When a letter is delivered, an agreement made and kept, and the follow-up done today
    await rj.record_intervention(
        db=db,
        actor=actor,
        case_id=built.id,
        kind=InterventionKind.LETTER_OF_EXPLANATION,
        delivered_at=utc_now(),
        idempotency_key=key(),
    )
    await rj.record_outcome_agreement(
        db=db,
        actor=actor,
        case_id=built.id,
        actions=[
            rj.ActionInput("Write an apology", built.responsible_id, utc_now().date() + timedelta(days=14)),
            rj.ActionInput("Attend a victim awareness course", built.responsible_id, utc_now().date()),
        ],
        idempotency_key=key(),
    )
    detail = await rj.get_case_detail(db=db, actor=actor, case_id=built.id)
    for action in detail.actions:
        await rj.mark_action_done(db=db, actor=actor, action_id=action.id or 0, idempotency_key=key())
    await rj.schedule_follow_up(
        db=db, actor=actor, case_id=built.id, follow_up_on=utc_now().date(), idempotency_key=key()
    )
    await rj.record_follow_up(
        db=db, actor=actor, case_id=built.id, harmed_satisfaction=Satisfaction.SATISFIED, idempotency_key=key()
    )
    closed = await rj.close_case(
        db=db, actor=rjw.coordinator_client, case_id=built.id, reason=ClosureReason.COMPLETED, idempotency_key=key()
    )
    await db.commit()
    # Then it is closed as completed and the quarter's counts hold exactly this case
    assert (closed.stage, closed.closure_reason, closed.agreement_completed_at is not None) == (
        "closed",
        "completed",
        True,
    )
    counts = await rj.rj_quarterly_counts(db=db, starts_at=quarter_start, ends_at=utc_now() + timedelta(days=1))
    assert counts == rj.RjQuarterlyCounts(
        cases_referred=1,
        assessed_suitable=1,
        direct_interventions=0,
        indirect_interventions=1,
        agreements_completed=1,
        follow_ups_recorded=1,
        harmed_satisfied=1,
    )
    before = await rj.rj_quarterly_counts(db=db, starts_at=quarter_start - timedelta(days=90), ends_at=quarter_start)
    assert before == rj.RjQuarterlyCounts(0, 0, 0, 0, 0, 0, 0)
