"""What the RJ pages share: ids from the URL, words for the RJ codes, and UK dates and times typed into forms."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any

from gateway.consent.models import ConsentMethod
from gateway.restorative_justice.models import (
    AccreditationLevel,
    ClosureReason,
    HomeAgency,
    InterventionKind,
    Party,
    PartyRole,
    RiskLevel,
    RjStage,
    Satisfaction,
)
from gateway.web.forms import FormErrors
from gateway.web.visit import NotFoundPage, Visit

_DIGITS = re.compile(r"[0-9]{1,10}")
_TIME = re.compile(r"([0-9]{1,2})(?:[:.]([0-9]{2}))?\s*(am|pm)?", re.IGNORECASE)
# Record ids are 32-bit signed integers on PostgreSQL: a larger number names no record.
MAX_RECORD_ID = 2**31 - 1
KEY_LIMIT = 200

STAGES: dict[str, str] = {
    RjStage.REFERRAL_RECEIVED: "Referral received",
    RjStage.INITIAL_CONTACT: "Initial contact",
    RjStage.ASSESSMENT: "Assessment",
    RjStage.PREPARATION: "Preparation",
    RjStage.INTERVENTION: "Intervention",
    RjStage.OUTCOME_AGREEMENT: "Outcome agreement",
    RjStage.FOLLOW_UP: "Follow-up",
    RjStage.CLOSED: "Closed",
}
ROLES: dict[str, str] = {
    PartyRole.HARMED: "Person harmed",
    PartyRole.RESPONSIBLE: "Person responsible",
    PartyRole.SUPPORTER: "Supporter",
}
RISK_LEVELS: dict[str, str] = {RiskLevel.LOW: "Low", RiskLevel.MEDIUM: "Medium", RiskLevel.HIGH: "High"}
AGENCIES: dict[str, str] = {
    HomeAgency.POLICE: "Police",
    HomeAgency.PROBATION_SERVICE: "Probation Service",
    HomeAgency.YOUTH_JUSTICE_SERVICE: "Youth Justice Service",
    HomeAgency.PRISON_SERVICE: "Prison Service",
    HomeAgency.VICTIM_SERVICES: "Victim services",
    HomeAgency.RJ_HUB: "RJ hub",
    HomeAgency.VOLUNTEER: "Volunteer",
    HomeAgency.OTHER: "Other",
}
LEVELS: dict[str, str] = {
    AccreditationLevel.TRAINEE: "Trainee",
    AccreditationLevel.PRACTITIONER: "Practitioner",
    AccreditationLevel.ACCREDITED_PRACTITIONER: "Accredited practitioner",
    AccreditationLevel.COMPLEX_AND_SENSITIVE: "Complex and sensitive cases",
}
CONSENT_METHODS: dict[str, str] = {
    ConsentMethod.VERBAL: "Verbally",
    ConsentMethod.WRITTEN: "In writing",
    ConsentMethod.ONLINE: "Online",
}
INTERVENTIONS: dict[str, str] = {
    InterventionKind.DIRECT_CONFERENCE: "A conference that was held",
    InterventionKind.SHUTTLE_MESSAGE: "A shuttle message",
    InterventionKind.LETTER_OF_EXPLANATION: "A letter of explanation",
}
SATISFACTION: dict[str, str] = {
    Satisfaction.SATISFIED: "Satisfied",
    Satisfaction.NEITHER: "Neither satisfied nor dissatisfied",
    Satisfaction.DISSATISFIED: "Dissatisfied",
    Satisfaction.DECLINED_TO_SAY: "Declined to say",
}
CLOSURES: dict[str, str] = {
    ClosureReason.COMPLETED: "Completed after follow-up",
    ClosureReason.HARMED_WITHDREW: "The person harmed withdrew",
    ClosureReason.RESPONSIBLE_WITHDREW: "The person responsible withdrew",
    ClosureReason.UNSUITABLE: "Assessed as unsuitable",
    ClosureReason.UNABLE_TO_CONTACT: "Unable to contact",
}
CONFERENCE_STATUSES: dict[str, str] = {"scheduled": "Scheduled", "held": "Held", "cancelled": "Cancelled"}


def record_id(visit: Visit, name: str) -> int:
    """A record id from the URL; anything but a plausible one is the 404 page, like a missing record."""
    text = str(visit.request.path_params.get(name, ""))
    if _DIGITS.fullmatch(text) is None or int(text) > MAX_RECORD_ID:
        raise NotFoundPage()
    return int(text)


def chosen_id(value: str) -> int | None:
    """An id chosen in a form (a select, radios, checkboxes); None when it is not one."""
    if _DIGITS.fullmatch(value) is None or int(value) > MAX_RECORD_ID:
        return None
    return int(value)


def fresh_key() -> str:
    return f"portal-rj-{uuid.uuid4()}"


def idempotency_key(visit: Visit) -> str:
    """The key rendered into the form; a double-submitted form is one change. A missing one gets a new key."""
    key = visit.field("idempotency_key", limit=KEY_LIMIT)
    return key if key and len(key) <= KEY_LIMIT else fresh_key()


def party_label(party: Party) -> str:
    return f"{ROLES.get(party.role, party.role)}: {party.given_name} {party.family_name}"


def read_date(visit: Visit, errors: FormErrors, prefix: str, what: str) -> tuple[dict[str, str], date | None]:
    """A UK date typed as day, month and year (the GOV.UK date input)."""
    values = {part: visit.field(f"{prefix}-{part}", limit=4) for part in ("day", "month", "year")}
    if not any(values.values()):
        errors.add(f"{prefix}-day", f"Enter the date of the {what}")
        return values, None
    if not all(v.isascii() and v.isdigit() for v in values.values()):
        errors.add(f"{prefix}-day", f"The date of the {what} must be a real date")
        return values, None
    try:
        return values, date(int(values["year"]), int(values["month"]), int(values["day"]))
    except ValueError:
        errors.add(f"{prefix}-day", f"The date of the {what} must be a real date")
        return values, None


def read_local_moment(
    visit: Visit, errors: FormErrors, prefix: str, what: str
) -> tuple[dict[str, str], datetime | None]:
    """A UK wall-clock date and time as typed, without a zone: the services read it as Europe/London time."""
    values, day = read_date(visit, errors, prefix, what)
    values["time"] = visit.field(f"{prefix}-time", limit=10)
    time = _TIME.fullmatch(values["time"])
    if not values["time"]:
        errors.add(f"{prefix}-time", f"Enter the time of the {what}")
        return values, None
    hour, minute = (int(time.group(1)), int(time.group(2) or 0)) if time else (99, 0)
    half = (time.group(3) or "").lower() if time else ""
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0) if 1 <= hour <= 12 else 99
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        errors.add(f"{prefix}-time", f"Enter the time of the {what} like 14:30 or 2:30pm")
        return values, None
    if day is None:
        return values, None
    return values, datetime(day.year, day.month, day.day, hour, minute)  # noqa: DTZ001 (UK time, as typed)


def choice(visit: Visit, errors: FormErrors, name: str, choices: dict[str, Any], message: str) -> str:
    value = visit.field(name, limit=64)
    if value not in choices:
        errors.add(name, message)
    return value


def items(choices: dict[str, str], selected: str | None = None) -> list[dict[str, Any]]:
    """GOV.UK radios or select items from a code -> words mapping."""
    return [{"value": code, "text": text, "checked": code == selected} for code, text in choices.items()]
