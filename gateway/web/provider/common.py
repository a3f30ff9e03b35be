"""What the provider's pages share: reading a task id from the URL, the words for the domain's codes, time left."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from gateway.clock import as_utc, utc_now
from gateway.referrals.models import (
    OPEN_STATUSES,
    ContactMethod,
    ContactResult,
    FailReason,
    RejectReason,
    TaskStatus,
)
from gateway.web.visit import NotFoundPage, Visit

_DIGITS = re.compile(r"[0-9]{1,10}")
# Record ids are 32-bit signed integers on PostgreSQL: a larger number names no task.
MAX_RECORD_ID = 2**31 - 1

STATUS_LABELS: dict[str, str] = {
    TaskStatus.REQUESTED: "New",
    TaskStatus.ACCEPTED: "Accepted",
    TaskStatus.IN_PROGRESS: "In progress",
    TaskStatus.ON_HOLD: "On hold",
    TaskStatus.COMPLETED: "Completed",
    TaskStatus.REJECTED: "Rejected",
    TaskStatus.FAILED: "Failed",
    TaskStatus.CANCELLED: "Cancelled by the Hub",
    TaskStatus.ENTERED_IN_ERROR: "Entered in error",
}
# The GOV.UK tag colour each status is shown in: what needs the caseworker's attention stands out.
STATUS_TAGS: dict[str, str] = {
    TaskStatus.REQUESTED: "govuk-tag--blue",
    TaskStatus.ACCEPTED: "govuk-tag--turquoise",
    TaskStatus.IN_PROGRESS: "govuk-tag--light-blue",
    TaskStatus.ON_HOLD: "govuk-tag--yellow",
    TaskStatus.COMPLETED: "govuk-tag--green",
    TaskStatus.REJECTED: "govuk-tag--grey",
    TaskStatus.FAILED: "govuk-tag--grey",
    TaskStatus.CANCELLED: "govuk-tag--grey",
    TaskStatus.ENTERED_IN_ERROR: "govuk-tag--grey",
}
REJECT_REASONS: dict[str, str] = {
    RejectReason.NOT_ELIGIBLE: "The person is not eligible for our service",
    RejectReason.NO_CAPACITY: "We have no capacity to take this on",
    RejectReason.OUT_OF_AREA: "The person lives outside our area",
    RejectReason.DUPLICATE: "We already have this referral",
    RejectReason.INSUFFICIENT_INFORMATION: "There is not enough information to act on",
    RejectReason.VICTIM_DECLINED: "The person has declined our support",
}
FAIL_REASONS: dict[str, str] = {FailReason.UNABLE_TO_CONTACT: "We could not contact the person"}
CONTACT_METHODS: dict[str, str] = {
    ContactMethod.PHONE: "Phone call",
    ContactMethod.SMS: "Text message",
    ContactMethod.EMAIL: "Email",
    ContactMethod.LETTER: "Letter",
    ContactMethod.VISIT: "Visit",
}
CONTACT_RESULTS: dict[str, str] = {
    ContactResult.NO_ANSWER: "No answer",
    ContactResult.VOICEMAIL_LEFT: "Voicemail left",
    ContactResult.MESSAGE_SENT: "Message sent",
    ContactResult.WRONG_NUMBER: "Wrong number",
    ContactResult.NOT_SAFE_TO_TALK: "Not safe to talk",
    ContactResult.CONTACT_MADE: "Contact made",
    ContactResult.DECLINED: "Declined support",
}
REASON_LABELS: dict[str, str] = {
    **REJECT_REASONS,
    **FAIL_REASONS,
    "consent-withdrawn": "Consent was withdrawn",
    "victim-request": "At the person's request",
    "referred-elsewhere": "Referred elsewhere",
}
REDACTION_REASONS: dict[str, str] = {
    "consent-withdrawn": "consent to share them with your organisation was withdrawn",
    "consent-expired": "the consent to share them with your organisation has expired",
    "no-consent": "there is no consent to share them with your organisation",
    "entered-in-error": "the Hub marked this task as entered in error",
}


def task_id_from(visit: Visit) -> int:
    """The task id in the URL; anything but a plausible record id is the 404 page, like a missing task."""
    text = str(visit.request.path_params.get("task_id", ""))
    if _DIGITS.fullmatch(text) is None or int(text) > MAX_RECORD_ID:
        raise NotFoundPage()
    return int(text)


def humanise(code: str | None) -> str:
    """A domain code as words: "sexual-offence" reads "Sexual offence"."""
    if not code:
        return ""
    words = str(code).replace("-", " ")
    return words[:1].upper() + words[1:]


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if not days and (minutes or not parts):
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


def time_left(due: datetime | None, now: datetime | None = None) -> dict[str, Any] | None:
    """How long until a time limit, or how long it has been missed: {"overdue": bool, "text": "2 days 3 hours"}."""
    if due is None:
        return None
    seconds = (as_utc(due) - as_utc(now or utc_now())).total_seconds()
    if seconds < 0:
        return {"overdue": True, "text": f"Overdue by {_span(-seconds)}"}
    return {"overdue": False, "text": f"{_span(seconds)} left"}


def accept_limit(task: Any, now: datetime) -> dict[str, Any]:
    """What the inbox and the task page say about the time limit for accepting a task."""
    if task.status == TaskStatus.REQUESTED.value:
        return {"due": task.accept_due_at, "left": time_left(task.accept_due_at, now)}
    if task.accepted_at is not None:
        return {"done": task.accepted_at, "text": "Accepted"}
    return {"text": "Not needed"}


def first_contact_limit(task: Any, now: datetime) -> dict[str, Any]:
    """What the inbox and the task page say about the first-contact target."""
    if task.first_contact_at is not None:
        return {"done": task.first_contact_at, "text": "Made"}
    if task.status in OPEN_STATUSES:
        return {"due": task.first_contact_due_at, "left": time_left(task.first_contact_due_at, now)}
    return {"text": "Not needed"}
