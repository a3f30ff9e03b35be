"""Conferences of an RJ case: booking them free of clashes, moving or cancelling them, and recording attendance.

What a valid booking is lives in conference_booking.py, the clash rule in conference_clashes.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select

from gateway.auth.principal import Principal
from gateway.clock import as_utc, utc_now
from gateway.db import AsyncSession
from gateway.errors import InvalidTransition, ValidationFailed
from gateway.events.models import EventType
from gateway.events.service import record_event
from gateway.kit import bounded_text
from gateway.restorative_justice.models import (
    REASON_MAX_LENGTH,
    Conference,
    ConferenceFacilitator,
    ConferenceParticipant,
    ConferenceStatus,
    Facilitator,
    RjCase,
)
from gateway.restorative_justice.service.access import (
    CASEWORK,
    MANAGE,
    CaseStep,
    SubjectIds,
    add_to_case,
    case_parties,
    change_in_case,
    require_rj_hub,
)
from gateway.restorative_justice.service.conference_booking import (
    BOOKING_STAGES,
    ConferenceBooking,
    assign_to_case,
    booking_interval,
    facilitators_of,
    require_conference_consent,
    venue_key_of,
    venue_of,
)
from gateway.restorative_justice.service.conference_clashes import lock_bookings, refuse_conflicts
from gateway.restorative_justice.service.facilitators import accredited_facilitators
from gateway.restorative_justice.service.rules import require_cleared_assessment, require_stage

SCHEDULE = CaseStep("rj.conference.schedule", stages=BOOKING_STAGES, scopes=MANAGE)
RECORD_PAST = CaseStep("rj.conference.record-past", stages=BOOKING_STAGES, scopes=MANAGE)


async def _tell_facilitators(
    db: AsyncSession, event_type: EventType, conference: Conference, facilitator_ids: Sequence[int]
) -> None:
    """One event per organisation the conference's facilitators work for; ids only, never a time or a venue."""
    if not facilitator_ids:
        return
    organisation_ids = (
        await db.exec(
            select(Facilitator.organisation_id)
            .where(col(Facilitator.id).in_(list(facilitator_ids)))
            .distinct()
            .order_by(col(Facilitator.organisation_id))
        )
    ).all()
    for organisation_id in organisation_ids:
        await record_event(
            db=db,
            event_type=event_type,
            organisation_id=organisation_id,
            subject_ids={
                "rj_case": conference.case_id,
                "rj_conference": conference.id,
                "sequence": conference.sequence,
            },
        )


async def schedule_conference(
    *, db: AsyncSession, actor: Principal, case_id: int, booking: ConferenceBooking, idempotency_key: str
) -> Conference:
    """The co-ordinator books a conference of consenting parties with accredited facilitators, free of clashes."""

    async def book(case: RjCase) -> tuple[Conference, SubjectIds]:
        require_cleared_assessment(case)
        starts_at, ends_at = booking_interval(booking.starts_at, booking.duration_minutes)
        venue = venue_of(booking)
        require_conference_consent({p.id: p for p in await case_parties(db, case_id)}, booking.party_ids)
        facilitator_ids = facilitators_of(case, booking)
        # Accredited on the day of the conference, not only today.
        await accredited_facilitators(db, actor, facilitator_ids, max(starts_at.date(), utc_now().date()))
        assigned = assign_to_case(case, facilitator_ids)
        await lock_bookings(db)
        party_ids = sorted(booking.party_ids)
        await refuse_conflicts(
            db,
            starts_at=starts_at,
            ends_at=ends_at,
            facilitator_ids=facilitator_ids,
            party_ids=party_ids,
            venue_key=venue_key_of(venue),
            excluding=None,
        )
        conference = Conference(
            case_id=case_id,
            starts_at=starts_at,
            ends_at=ends_at,
            venue=venue,
            venue_key=venue_key_of(venue),
            video_call=booking.video_call,
            status=ConferenceStatus.SCHEDULED.value,
        )
        db.add(conference)
        await db.flush()
        assert conference.id is not None
        for party_id in party_ids:
            db.add(ConferenceParticipant(conference_id=conference.id, party_id=party_id))
        for facilitator_id in facilitator_ids:
            db.add(ConferenceFacilitator(conference_id=conference.id, facilitator_id=facilitator_id))
        await _tell_facilitators(db, EventType.RJ_CONFERENCE_BOOKED, conference, facilitator_ids)
        return conference, {"rj_conference": conference.id, "assigned": assigned}

    return await add_to_case(db, actor, SCHEDULE, Conference, case_id, idempotency_key, {"b": booking}, add=book)


async def record_past_conference(
    *,
    db: AsyncSession,
    actor: Principal,
    case_id: int,
    booking: ConferenceBooking,
    attended_party_ids: frozenset[int],
    idempotency_key: str,
) -> Conference:
    """A conference that already took place is entered afterwards, held, with who attended, and flagged as such.

    The same consent, accreditation (on the day it was held) and assignment rules as a booking apply; clashes are
    not checked, because what happened cannot be refused.
    """

    async def record(case: RjCase) -> tuple[Conference, SubjectIds]:
        require_cleared_assessment(case)
        starts_at, ends_at = booking_interval(booking.starts_at, booking.duration_minutes, past=True)
        venue = venue_of(booking)
        require_conference_consent({p.id: p for p in await case_parties(db, case_id)}, booking.party_ids)
        if not attended_party_ids <= booking.party_ids:
            raise ValidationFailed("Only the conference's participants can be recorded as attending.")
        facilitator_ids = facilitators_of(case, booking)
        await accredited_facilitators(db, actor, facilitator_ids, starts_at.date())
        assigned = assign_to_case(case, facilitator_ids)
        conference = Conference(
            case_id=case_id,
            starts_at=starts_at,
            ends_at=ends_at,
            venue=venue,
            venue_key=venue_key_of(venue),
            video_call=booking.video_call,
            status=ConferenceStatus.HELD.value,
            recorded_afterwards=True,
        )
        db.add(conference)
        await db.flush()
        assert conference.id is not None
        for party_id in sorted(booking.party_ids):
            db.add(
                ConferenceParticipant(
                    conference_id=conference.id, party_id=party_id, attended=party_id in attended_party_ids
                )
            )
        for facilitator_id in facilitator_ids:
            db.add(ConferenceFacilitator(conference_id=conference.id, facilitator_id=facilitator_id))
        return conference, {"rj_conference": conference.id, "assigned": assigned}

    request = {"b": booking, "a": sorted(attended_party_ids)}
    return await add_to_case(db, actor, RECORD_PAST, Conference, case_id, idempotency_key, request, add=record)


def _require_scheduled(conference: Conference) -> None:
    if conference.status != ConferenceStatus.SCHEDULED.value:
        raise InvalidTransition(f"The conference is {conference.status}.")


async def _booked(db: AsyncSession, conference_id: int) -> tuple[list[int], list[int]]:
    facilitator_ids = list(
        (
            await db.exec(
                select(ConferenceFacilitator.facilitator_id).where(
                    col(ConferenceFacilitator.conference_id) == conference_id
                )
            )
        ).all()
    )
    party_ids = list(
        (
            await db.exec(
                select(ConferenceParticipant.party_id).where(col(ConferenceParticipant.conference_id) == conference_id)
            )
        ).all()
    )
    return facilitator_ids, party_ids


async def reschedule_conference(
    *,
    db: AsyncSession,
    actor: Principal,
    conference_id: int,
    starts_at: datetime,
    duration_minutes: int,
    reason: str,
    idempotency_key: str,
) -> Conference:
    """The co-ordinator moves a scheduled conference to a time free for all its facilitators, parties and venue."""
    require_rj_hub(actor, *MANAGE)

    async def reschedule(conference: Conference, case: RjCase) -> SubjectIds:
        _require_scheduled(conference)
        require_stage(case, *BOOKING_STAGES)
        why = bounded_text(reason, "reason", max_length=REASON_MAX_LENGTH, required=True)
        new_start, new_end = booking_interval(starts_at, duration_minutes)
        facilitator_ids, party_ids = await _booked(db, conference_id)
        await accredited_facilitators(db, actor, facilitator_ids, max(new_start.date(), utc_now().date()))
        await lock_bookings(db)
        await refuse_conflicts(
            db,
            starts_at=new_start,
            ends_at=new_end,
            facilitator_ids=facilitator_ids,
            party_ids=party_ids,
            venue_key=conference.venue_key,
            excluding=conference_id,
        )
        conference.starts_at, conference.ends_at = new_start, new_end
        conference.status_reason = why
        conference.sequence += 1
        conference.updated_at = utc_now()
        await _tell_facilitators(db, EventType.RJ_CONFERENCE_MOVED, conference, facilitator_ids)
        return {"rj_conference": conference_id}

    request = {"conf": conference_id, "s": starts_at, "d": duration_minutes, "r": reason}
    return await change_in_case(
        db, actor, Conference, "rj.conference.reschedule", conference_id, idempotency_key, request, change=reschedule
    )


async def cancel_conference(
    *, db: AsyncSession, actor: Principal, conference_id: int, reason: str, idempotency_key: str
) -> Conference:
    """The co-ordinator cancels a scheduled conference with a reason."""
    require_rj_hub(actor, *MANAGE)

    async def cancel(conference: Conference, case: RjCase) -> SubjectIds:
        # Whatever the case's stage: a halted case's conference can still be called off.
        _require_scheduled(conference)
        conference.status = ConferenceStatus.CANCELLED.value
        conference.status_reason = bounded_text(reason, "reason", max_length=REASON_MAX_LENGTH, required=True)
        conference.sequence += 1
        conference.updated_at = utc_now()
        facilitator_ids, _ = await _booked(db, conference_id)
        await _tell_facilitators(db, EventType.RJ_CONFERENCE_CANCELLED, conference, facilitator_ids)
        return {"rj_conference": conference_id}

    request = {"conf": conference_id, "r": reason}
    return await change_in_case(
        db, actor, Conference, "rj.conference.cancel", conference_id, idempotency_key, request, change=cancel
    )


async def record_attendance(
    *,
    db: AsyncSession,
    actor: Principal,
    conference_id: int,
    attended_party_ids: frozenset[int],
    idempotency_key: str,
) -> Conference:
    """Once a scheduled conference has started, who attended is recorded and the conference is held."""
    require_rj_hub(actor, *CASEWORK)

    async def attend(conference: Conference, case: RjCase) -> SubjectIds:
        _require_scheduled(conference)
        require_stage(case, *BOOKING_STAGES)
        if as_utc(conference.starts_at) > utc_now():
            raise InvalidTransition("Attendance is recorded once the conference has started.")
        participants = list(
            (
                await db.exec(
                    select(ConferenceParticipant).where(col(ConferenceParticipant.conference_id) == conference_id)
                )
            ).all()
        )
        if not attended_party_ids <= {p.party_id for p in participants}:
            raise ValidationFailed("Only the conference's participants can be recorded as attending.")
        for participant in participants:
            participant.attended = participant.party_id in attended_party_ids
            db.add(participant)
        conference.status = ConferenceStatus.HELD.value
        conference.updated_at = utc_now()
        return {"rj_conference": conference_id}

    request = {"conf": conference_id, "a": sorted(attended_party_ids)}
    return await change_in_case(
        db, actor, Conference, "rj.conference.attendance", conference_id, idempotency_key, request, change=attend
    )


async def load_conference_links(
    *, db: AsyncSession, conference_ids: Sequence[int]
) -> tuple[dict[int, list[ConferenceParticipant]], dict[int, list[int]]]:
    """Participants and facilitator ids of conferences the caller has already been allowed to load, in two queries."""
    participants: dict[int, list[ConferenceParticipant]] = {i: [] for i in conference_ids}
    booked: dict[int, list[int]] = {i: [] for i in conference_ids}
    if not conference_ids:
        return participants, booked
    wanted = list(conference_ids)
    attending = select(ConferenceParticipant).where(col(ConferenceParticipant.conference_id).in_(wanted))
    for participant in (await db.exec(attending.order_by(col(ConferenceParticipant.party_id)))).all():
        participants[participant.conference_id].append(participant)
    facilitating = select(ConferenceFacilitator).where(col(ConferenceFacilitator.conference_id).in_(wanted))
    for link in (await db.exec(facilitating.order_by(col(ConferenceFacilitator.facilitator_id)))).all():
        booked[link.conference_id].append(link.facilitator_id)
    return participants, booked
