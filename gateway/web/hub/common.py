"""What the Hub's pages share: ids from paths, retry keys, refusals in words, labels, dates typed by people."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from gateway.errors import DomainError, ErrorCode
from gateway.web.forms import FormErrors
from gateway.web.templating import LONDON
from gateway.web.visit import NotFoundPage
from providers.registry import get_profile

MAX_ID = 2**31 - 1
PAGE_SIZE = 20
CONFLICT_MESSAGE = (
    "Someone else changed this task while you were looking at it. Here is the latest: check it and try again."
)

# Where a code's own words would read badly; everything else is the code with its hyphens as spaces.
_LABELS = {
    "officer-needs-assessment": "Officer's needs assessment",
    "in-progress": "In progress",
    "on-hold": "On hold",
    "entered-in-error": "Entered in error",
    "requested": "Sent",
    "accept-overdue": "Not accepted in time",
    "first-contact-overdue": "First contact overdue",
    "date-of-birth": "Date of birth",
    "safe-contact": "Safe-contact instructions",
    "crime-reference": "Crime reference",
    "priority-flags": "Priority flags",
    "equality-monitoring": "Equality monitoring answers",
    "domestic-abuse-risk": "Domestic-abuse risk level",
    "assessment-notes": "Assessment notes",
    "restorative-justice-interest": "Interest in restorative justice",
    "anti-social-behaviour": "Anti-social behaviour",
    "none": "None",
}

STATUS_TAG_CLASSES = {
    "draft": "govuk-tag--grey",
    "requested": "govuk-tag--blue",
    "accepted": "govuk-tag--turquoise",
    "in-progress": "govuk-tag--light-blue",
    "on-hold": "govuk-tag--yellow",
    "completed": "govuk-tag--green",
    "rejected": "govuk-tag--red",
    "failed": "govuk-tag--orange",
    "cancelled": "govuk-tag--grey",
    "entered-in-error": "govuk-tag--grey",
}


def label(code: str | None) -> str:
    """A stored code in words for the page (no-capacity: No capacity)."""
    if not code:
        return ""
    if code in _LABELS:
        return _LABELS[code]
    words = code.replace("-", " ")
    return words[:1].upper() + words[1:]


def provider_name(slug: str) -> str:
    profile = get_profile(slug)
    return profile.display_name if profile is not None else slug


def record_id(text: Any) -> int:
    """An id from a path: ASCII digits within the database's ids, or the page does not exist."""
    value = str(text)
    if not value.isascii() or not value.isdigit() or len(value) > 10 or not 0 < int(value) <= MAX_ID:
        raise NotFoundPage()
    return int(value)


def cursor(text: str | None) -> int | None:
    """The `after` of a paged list: an id, or the start of the list for anything else."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > MAX_ID:
        return None
    return int(text)


def new_key() -> str:
    """A fresh idempotency key for one form as rendered: the same form sent twice is one change."""
    return uuid.uuid4().hex


def refusal_text(refusal: DomainError) -> str:
    return CONFLICT_MESSAGE if refusal.code is ErrorCode.CONFLICT else refusal.message


def refused(errors: FormErrors, field_id: str, refusal: DomainError) -> FormErrors:
    errors.add(field_id, refusal_text(refusal))
    return errors


def typed_date(
    errors: FormErrors, field_id: str, parts: dict[str, str], *, what: str, required: bool, today: date
) -> date | None:
    """A UK date typed as day, month and year (GOV.UK date input); errors point at its first box."""
    day, month, year = (parts.get(k, "") for k in ("day", "month", "year"))
    if not any((day, month, year)):
        if required:
            errors.add(f"{field_id}-day", f"Enter {what}")
        return None
    if not all(p.isascii() and p.isdigit() and len(p) <= 4 for p in (day, month, year)) or len(year) != 4:
        errors.add(f"{field_id}-day", f"{what[0].upper()}{what[1:]} must be a real date")
        return None
    try:
        found = date(int(year), int(month), int(day))
    except ValueError:
        errors.add(f"{field_id}-day", f"{what[0].upper()}{what[1:]} must be a real date")
        return None
    if found > today:
        errors.add(f"{field_id}-day", f"{what[0].upper()}{what[1:]} must be today or in the past")
        return None
    return found


def date_parts(value: date | None) -> dict[str, str]:
    if value is None:
        return {"day": "", "month": "", "year": ""}
    return {"day": str(value.day), "month": str(value.month), "year": str(value.year)}


def parts_date(parts: dict[str, str] | None) -> date | None:
    """A date kept in a draft as its typed parts (already checked), or None."""
    if not parts or not all(parts.get(k) for k in ("day", "month", "year")):
        return None
    try:
        return date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        return None


def start_of_local_day(day: date) -> datetime:
    """The moment a UK date began: consent given "on 3 March" was given no later than that day."""
    return datetime(day.year, day.month, day.day, tzinfo=LONDON)
