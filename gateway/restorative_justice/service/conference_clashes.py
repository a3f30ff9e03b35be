"""Double-booking across every RJ case: a facilitator, a party or a venue booked twice in overlapping time is
refused, checked and written under one lock on PostgreSQL; and the co-ordinator's look, before saving, at what a
booking would clash with. Apart from the bookings themselves because booking and rescheduling both apply it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.errors import DomainError, FacilitatorDoubleBooked, PartyDoubleBooked, VenueTaken
from gateway.restorative_justice.models import (
    Conference,
    ConferenceFacilitator,
    ConferenceParticipant,
    ConferenceStatus,
)
from gateway.restorative_justice.service.access import MANAGE, load_case, require_rj_hub
from gateway.restorative_justice.service.conference_booking import (
    ConferenceBooking,
    booking_interval,
    facilitators_of,
    venue_key_of,
    venue_of,
)

# Scheduling conflicts are checked then written; this lock makes check-and-book one step on PostgreSQL.
CONFERENCE_BOOKING_LOCK_KEY = 0x726A_636F_6E66  # "rjconf"


async def lock_bookings(db: AsyncSession) -> None:
    connection = await db.connection()
    if connection.dialect.name == "postgresql":
        await db.exec(select(sa.func.pg_advisory_xact_lock(CONFERENCE_BOOKING_LOCK_KEY)))


def _overlapping(starts_at: datetime, ends_at: datetime, excluding: int | None) -> list[ColumnElement[bool]]:
    # Half-open intervals: one conference may end exactly when the next begins.
    clauses = [
        col(Conference.status) == ConferenceStatus.SCHEDULED.value,
        col(Conference.starts_at) < ends_at,
        col(Conference.ends_at) > starts_at,
    ]
    if excluding is not None:
        clauses.append(col(Conference.id) != excluding)
    return clauses


async def refuse_conflicts(
    db: AsyncSession,
    *,
    starts_at: datetime,
    ends_at: datetime,
    facilitator_ids: Sequence[int],
    party_ids: Sequence[int],
    venue_key: str | None,
    excluding: int | None,
) -> None:
    """Refuse a booking that double-books a facilitator, a party or a venue, across every RJ case."""
    overlapping = _overlapping(starts_at, ends_at, excluding)
    booked_people: list[tuple[Any, Any, Sequence[int], type[DomainError]]] = [
        (
            ConferenceFacilitator.conference_id,
            ConferenceFacilitator.facilitator_id,
            facilitator_ids,
            FacilitatorDoubleBooked,
        ),
        (ConferenceParticipant.conference_id, ConferenceParticipant.party_id, party_ids, PartyDoubleBooked),
    ]
    for conference_id, person_id, wanted, clash in booked_people:
        found = (
            await db.exec(
                select(conference_id)
                .join(Conference, col(Conference.id) == col(conference_id))
                .where(col(person_id).in_(list(wanted)), *overlapping)
                .limit(1)
            )
        ).first()
        if found is not None:
            raise clash()
    if venue_key is not None:
        venue_clash = (
            await db.exec(select(Conference.id).where(col(Conference.venue_key) == venue_key, *overlapping).limit(1))
        ).first()
        if venue_clash is not None:
            raise VenueTaken()


async def booking_clashes(*, db: AsyncSession, actor: Principal, case_id: int, booking: ConferenceBooking) -> list[str]:
    """Before saving: what a booking would clash with (facilitator, participant, venue), as messages; nothing is
    written. Input the booking itself would refuse (times, consent, accreditation) is refused as it would be."""
    require_rj_hub(actor, *MANAGE)
    case = await load_case(db, actor, case_id)
    starts_at, ends_at = booking_interval(booking.starts_at, booking.duration_minutes)
    venue_key = venue_key_of(venue_of(booking))
    facilitator_ids = facilitators_of(case, booking)
    found: list[str] = []
    for facilitators, parties, venue in (
        (facilitator_ids, [], None),
        ([], sorted(booking.party_ids), None),
        ([], [], venue_key),
    ):
        try:
            await refuse_conflicts(
                db,
                starts_at=starts_at,
                ends_at=ends_at,
                facilitator_ids=facilitators,
                party_ids=parties,
                venue_key=venue,
                excluding=None,
            )
        except DomainError as clash:
            found.append(clash.message)
    return found
