"""What makes an RJ conference booking valid, before any clash is looked for: its length and time (ahead, or
behind for one recorded afterwards), a venue or a video call, the parties' consent, and its facilitators (the
case's own, or booked ones who then join the case). Apart because booking, recording afterwards and checking for
clashes all apply these same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.clock import utc_now
from gateway.errors import InvalidTransition, NotFound, ValidationFailed
from gateway.kit import bounded_text
from gateway.restorative_justice.models import Party, PartyRole, RjCase, RjStage
from gateway.restorative_justice.service.rules import from_uk_time, require_consent

MIN_CONFERENCE_MINUTES, MAX_CONFERENCE_MINUTES = 15, 8 * 60
# A conference is booked, moved or attended only while its case is being prepared or intervened in.
BOOKING_STAGES = (RjStage.PREPARATION, RjStage.INTERVENTION)


@dataclass(frozen=True, slots=True)
class ConferenceBooking:
    starts_at: datetime
    duration_minutes: int
    venue: str | None
    video_call: bool
    party_ids: frozenset[int]
    # Empty: the case's lead and co-facilitator.
    facilitator_ids: frozenset[int] = frozenset()


def venue_key_of(venue: str | None) -> str | None:
    return " ".join(venue.lower().split()) if venue else None


def booking_interval(starts_at: datetime, duration_minutes: int, *, past: bool = False) -> tuple[datetime, datetime]:
    """The half-open interval of a booking (UK local time when no zone is given): ahead, or for `past` behind."""
    if not MIN_CONFERENCE_MINUTES <= duration_minutes <= MAX_CONFERENCE_MINUTES:
        raise ValidationFailed(f"A conference lasts {MIN_CONFERENCE_MINUTES} to {MAX_CONFERENCE_MINUTES} minutes.")
    start = from_uk_time(starts_at)
    if past and start > utc_now():
        raise ValidationFailed("A conference recorded afterwards must already have started.")
    if not past and start < utc_now():
        raise ValidationFailed("A conference cannot be booked in the past; record one that happened afterwards.")
    try:
        return start, start + timedelta(minutes=duration_minutes)
    except OverflowError:
        raise ValidationFailed("That time is out of range.") from None


def venue_of(booking: ConferenceBooking) -> str | None:
    venue = bounded_text(booking.venue, "venue", max_length=200)
    if booking.video_call == (venue is not None):
        raise ValidationFailed("A conference has either a venue or a video call.")
    return venue


def require_conference_consent(parties: dict[int | None, Party], party_ids: frozenset[int]) -> None:
    """A conference brings the parties face to face: every person harmed and responsible must consent to it.

    Indirect work (shuttle messages, letters) has its own rule, checked when it is recorded: see stages.
    """
    if not party_ids:
        raise ValidationFailed("A conference has participants.")
    participants = []
    for party_id in sorted(party_ids):
        party = parties.get(party_id)
        if party is None:
            raise NotFound()
        participants.append(party)
    principals = [p for p in parties.values() if p.role != PartyRole.SUPPORTER.value and p.withdrawn_at is None]
    for role in (PartyRole.HARMED, PartyRole.RESPONSIBLE):
        if not any(p.role == role.value for p in principals):
            raise InvalidTransition(f"A conference needs a {role.value} party in the case.")
    require_consent(principals, "a conference is booked")
    require_consent(participants, "a conference is booked")


def assign_to_case(case: RjCase, facilitator_ids: Sequence[int]) -> list[int]:
    """A booked facilitator becomes the case's lead or co-facilitator, so their calendar entry leads to the case.

    Refused when both places are already held by others: the co-ordinator reassigns the case first.
    """
    newly_assigned: list[int] = []
    for facilitator_id in facilitator_ids:
        if facilitator_id in (case.lead_facilitator_id, case.co_facilitator_id):
            continue
        if case.lead_facilitator_id is None:
            case.lead_facilitator_id = facilitator_id
        elif case.co_facilitator_id is None:
            case.co_facilitator_id = facilitator_id
        else:
            raise ValidationFailed(
                "Only the case's lead and co-facilitator can facilitate its conferences; reassign the case first."
            )
        newly_assigned.append(facilitator_id)
    if newly_assigned:
        case.updated_at = utc_now()
    return newly_assigned


def facilitators_of(case: RjCase, booking: ConferenceBooking) -> list[int]:
    facilitator_ids = sorted(booking.facilitator_ids) or [
        f for f in (case.lead_facilitator_id, case.co_facilitator_id) if f is not None
    ]
    if not facilitator_ids:
        raise ValidationFailed("Assign a lead facilitator or name the conference's facilitators.")
    if len(facilitator_ids) > 2:
        raise ValidationFailed("A conference has a lead and at most one co-facilitator.")
    return facilitator_ids
