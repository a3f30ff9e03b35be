"""What a notification says: a thin webhook payload and a short e-mail, both made from the event's ids alone.

Only the event's type, time and subject ids (ids, references, status codes) go out; never personal data. A receiver
reads anything more through the API with its own token, so every read is authorised and logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from gateway.clock import as_utc
from gateway.events.models import EventType, OutboxEvent

__all__ = ["EmailMessage", "WebhookMessage", "message_id", "render", "render_email", "subject_key"]

# Values a payload may carry: ids, references and codes are numbers or short strings (or lists of them).
MAX_TEXT_VALUE: Final = 80


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """A Standard Webhooks message: its id (stable across retries, so receivers de-duplicate), type, time, data."""

    id: str
    type: str
    timestamp: datetime
    data: dict[str, Any]

    def body(self) -> str:
        """The JSON body that is signed and sent."""
        return json.dumps(
            {"type": self.type, "timestamp": self.timestamp.isoformat(), "data": self.data},
            separators=(",", ":"),
            sort_keys=True,
        )


@dataclass(frozen=True, slots=True)
class EmailMessage:
    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class _Wording:
    subject: str
    sentence: str


_WORDING: Final[dict[EventType, _Wording]] = {
    EventType.TASK_REQUESTED: _Wording(
        "New referral task", "The Victim and Witness Hub has sent your organisation a new referral task."
    ),
    EventType.TASK_ACCEPTED: _Wording("Referral task accepted", "The provider has accepted the referral task."),
    EventType.TASK_REJECTED: _Wording("Referral task rejected", "The provider has rejected the referral task."),
    EventType.TASK_CANCELLED: _Wording(
        "Referral task cancelled", "The Victim and Witness Hub has cancelled the referral task; stop work on it."
    ),
    EventType.TASK_COMPLETED: _Wording(
        "Referral task completed", "The provider has completed the referral task and recorded its outcomes."
    ),
    EventType.TASK_FAILED: _Wording(
        "Referral task closed as failed", "The provider has closed the referral task as failed."
    ),
    EventType.TASK_ENTERED_IN_ERROR: _Wording(
        "Referral task entered in error",
        "The Victim and Witness Hub has marked the referral task as entered in error; disregard it.",
    ),
    EventType.CONSENT_WITHDRAWN: _Wording(
        "Consent withdrawn",
        "Consent covering your organisation has been withdrawn: its open tasks are cancelled and you may no "
        "longer see the person's details. Stop work on these tasks now.",
    ),
    EventType.TASK_ACCEPT_OVERDUE: _Wording(
        "Referral task overdue to accept", "A referral task has not been accepted or rejected in time."
    ),
    EventType.TASK_FIRST_CONTACT_OVERDUE: _Wording(
        "Referral task overdue for first contact",
        "A referral task has passed its first-contact target without a recorded first contact.",
    ),
    EventType.RJ_CONFERENCE_BOOKED: _Wording(
        "Restorative justice conference booked", "A restorative justice conference you facilitate has been booked."
    ),
    EventType.RJ_CONFERENCE_MOVED: _Wording(
        "Restorative justice conference moved", "A restorative justice conference you facilitate has been moved."
    ),
    EventType.RJ_CONFERENCE_CANCELLED: _Wording(
        "Restorative justice conference cancelled",
        "A restorative justice conference you facilitate has been cancelled.",
    ),
}
_GENERIC = _Wording("Notification", "Something your organisation follows has changed.")


def message_id(event: OutboxEvent) -> str:
    """The webhook-id: one per event, the same on every retry and every endpoint."""
    return f"evt_{event.id}"


def _safe(value: Any) -> Any:
    """Ids and codes only: numbers, short strings, and lists of them; anything else is left out."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT_VALUE else None
    if isinstance(value, list | tuple):
        return [_safe(item) for item in value]
    return None


def _data(event: OutboxEvent) -> dict[str, Any]:
    # subject_ids hold ids only by contract (events.service.record_event); this also bounds what leaves by shape.
    return {str(k): _safe(v) for k, v in sorted(event.subject_ids.items()) if _safe(v) is not None}


def _event_type(event: OutboxEvent) -> EventType | None:
    try:
        return EventType(event.type)
    except ValueError:
        return None


def subject_key(event: OutboxEvent) -> str:
    """What must reach one receiver in order: the task, the consent, or the conference the event is about."""
    ids = event.subject_ids
    for name, prefix in (("task", "task"), ("consent", "consent"), ("rj_conference", "rj-conference")):
        value = ids.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{prefix}:{value}"
    return f"event:{event.id}"


def render(event: OutboxEvent) -> WebhookMessage:
    """The webhook message for an event: its type, when it happened, and its subject ids."""
    return WebhookMessage(id=message_id(event), type=event.type, timestamp=as_utc(event.created_at), data=_data(event))


def _int_list(value: Any) -> list[int]:
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, int) and not isinstance(item, bool)]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_TEXT_VALUE else None


def _task_lines(data: dict[str, Any], portal: str) -> list[str]:
    lines: list[str] = []
    task_id = data.get("task")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        reference = _text(data.get("reference"))
        if reference:
            lines.append(f"Task reference: {reference}")
        lines.append(f"Open the task: {portal}/portal/tasks/{task_id}")
    for task_id in _int_list(data.get("task_ids")):
        lines.append(f"Task: {portal}/portal/tasks/{task_id}")
    return lines


def render_email(event: OutboxEvent, portal_url: str) -> EmailMessage:
    """A plain-text e-mail saying what happened, with the task reference and a portal link; no personal data."""
    portal = portal_url.rstrip("/")
    kind = _event_type(event)
    wording = _WORDING.get(kind, _GENERIC) if kind is not None else _GENERIC
    data = _data(event)
    reference = _text(data.get("reference"))
    subject = f"{wording.subject}: {reference}" if reference else wording.subject
    lines = [wording.sentence, ""]
    details = _task_lines(data, portal)
    if "rj_conference" in data:
        details.append(f"Conference number: {data['rj_conference']}")
        details.append(f"Open the restorative justice casework: {portal}/portal")
    if not details:
        details.append(f"Sign in to the portal: {portal}/portal")
    lines.extend(details)
    lines.extend(
        [
            "",
            f"Event: {event.type}, {as_utc(event.created_at).strftime('%d %B %Y %H:%M UTC')}",
            "",
            "This e-mail holds no personal details by design. Sign in to see what your organisation may see.",
        ]
    )
    return EmailMessage(subject=subject, text="\n".join(lines) + "\n")
