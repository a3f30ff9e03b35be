"""Reading the conference forms: booking one (or recording one that already happened), attendance and
cancelling. Apart from the other families because the booking checks are the largest and change on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import REASON_MAX_LENGTH
from gateway.web.forms import FormErrors, required
from gateway.web.rj.actions.context import CaseContext, Values
from gateway.web.rj.common import choice, chosen_id, read_local_moment
from gateway.web.visit import Visit


def booking_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    values: Values = {}
    values["starts"], starts_at = read_local_moment(visit, errors, "starts", "conference")
    values["duration"] = visit.field("duration", limit=4)
    duration = int(values["duration"]) if values["duration"].isascii() and values["duration"].isdigit() else 0
    if not 15 <= duration <= 480:
        errors.add("duration", "Enter how long the conference lasts, from 15 to 480 minutes")
    values["where"] = choice(visit, errors, "where", {"venue": "", "video": ""}, "Select a venue or a video call")
    values["venue"] = visit.field("venue", limit=200)
    if values["where"] == "venue" and not values["venue"]:
        errors.add("venue", "Enter the venue")
    elif len(values["venue"]) > 200:
        errors.add("venue", "The venue must be 200 characters or fewer")
    party_ids = {chosen_id(p) for p in visit.fields("parties", limit=12)}
    values["parties"] = visit.fields("parties", limit=12)
    known_parties = {p.id for p in context.detail.parties}
    if not party_ids or not party_ids <= known_parties:
        errors.add("parties", "Select who takes part")
    facilitator_ids = {chosen_id(f) for f in visit.fields("facilitators", limit=12)}
    values["facilitators"] = visit.fields("facilitators", limit=12)
    if not facilitator_ids <= {f.id for f in context.facilitators}:
        errors.add("facilitators", "Select facilitators from the list")
    if errors or starts_at is None:
        return values, {}
    booking = rj.ConferenceBooking(
        starts_at=starts_at,
        duration_minutes=duration,
        venue=values["venue"] if values["where"] == "venue" else None,
        video_call=values["where"] == "video",
        party_ids=frozenset(i for i in party_ids if i is not None),
        facilitator_ids=frozenset(i for i in facilitator_ids if i is not None),
    )
    return values, {"booking": booking}


def past_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    values, arguments = booking_form(visit, errors, context)
    attended = {chosen_id(p) for p in visit.fields("attended", limit=12)}
    values["attended"] = visit.fields("attended", limit=12)
    if not attended <= {p.id for p in context.detail.parties}:
        errors.add("attended", "Select who attended from the list")
    arguments["attended"] = frozenset(i for i in attended if i is not None)
    return values, arguments


def chosen_conference(status: str, message: str) -> Callable[[Visit, FormErrors, CaseContext], int | None]:
    def read(visit: Visit, errors: FormErrors, context: CaseContext) -> int | None:
        conference_id = chosen_id(visit.field("conference", limit=12))
        if conference_id is None or all(
            c.id != conference_id or c.status != status for c in context.detail.conferences
        ):
            errors.add("conference", message)
            return None
        return conference_id

    return read


def attendance_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    conference_id = chosen_conference("scheduled", "Select the conference")(visit, errors, context)
    attended = {chosen_id(p) for p in visit.fields("attended", limit=12)}
    values = {"conference": visit.field("conference", limit=12), "attended": visit.fields("attended", limit=12)}
    return values, {"conference_id": conference_id, "attended": frozenset(i for i in attended if i is not None)}


def cancel_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    conference_id = chosen_conference("scheduled", "Select the conference to cancel")(visit, errors, context)
    reason = required(
        errors,
        "reason",
        visit.field("reason", limit=REASON_MAX_LENGTH),
        "Enter why it is cancelled",
        limit=REASON_MAX_LENGTH,
        too_long=f"The reason must be {REASON_MAX_LENGTH} characters or fewer",
    )
    return {"conference": visit.field("conference", limit=12), "reason": reason}, {
        "conference_id": conference_id,
        "reason": reason,
    }
