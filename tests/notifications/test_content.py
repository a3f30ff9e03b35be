"""What a notification says: the webhook payload is the event's ids; the e-mail names the task and links the portal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gateway.events.models import EventType, OutboxEvent
from gateway.notifications.content import render, render_email, subject_key

WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
PORTAL = "https://gateway.example.net/"


def event(event_type: str, subject_ids: dict[str, object], event_id: int = 41) -> OutboxEvent:
    return OutboxEvent(id=event_id, type=event_type, organisation_id=3, subject_ids=subject_ids, created_at=WHEN)


TASK_IDS = {"task": 12, "referral": 5, "reference": "REF-2026-000005-CPN", "status": "requested"}


def test_the_webhook_message_is_the_event_type_time_and_ids() -> None:
    message = render(event("task.requested", TASK_IDS))

    assert (message.id, message.type, message.timestamp) == ("evt_41", "task.requested", WHEN)
    assert json.loads(message.body()) == {
        "type": "task.requested",
        "timestamp": "2026-12-01T09:30:00+00:00",
        "data": {"reference": "REF-2026-000005-CPN", "referral": 5, "status": "requested", "task": 12},
    }


def test_the_webhook_id_is_the_same_for_every_render_of_one_event() -> None:
    # Retries and every endpoint carry one id, so receivers de-duplicate.
    assert render(event("task.accepted", TASK_IDS)).id == render(event("task.accepted", TASK_IDS)).id == "evt_41"


def test_the_payload_carries_only_numbers_and_short_codes() -> None:
    message = render(event("task.requested", {"task": 1, "note": "x" * 81, "nested": {"name": "Someone"}}))

    assert message.data == {"task": 1}


def test_a_task_e_mail_names_the_task_by_reference_and_links_the_portal() -> None:
    mail = render_email(event("task.requested", TASK_IDS), PORTAL)

    assert mail.subject == "New referral task: REF-2026-000005-CPN"
    assert mail.text.splitlines() == [
        "The Victim and Witness Hub has sent your organisation a new referral task.",
        "",
        "Task reference: REF-2026-000005-CPN",
        "Open the task: https://gateway.example.net/portal/tasks/12",
        "",
        "Event: task.requested, 01 December 2026 09:30 UTC",
        "",
        "This e-mail holds no personal details by design. Sign in to see what your organisation may see.",
    ]


def test_a_withdrawal_e_mail_links_every_task_it_covered() -> None:
    mail = render_email(
        event("consent.withdrawn", {"consent": 7, "task_ids": [12, 13], "cancelled_task_ids": [12]}), PORTAL
    )

    assert mail.subject == "Consent withdrawn"
    assert "Task: https://gateway.example.net/portal/tasks/12" in mail.text
    assert "Task: https://gateway.example.net/portal/tasks/13" in mail.text
    assert "Stop work on these tasks now." in mail.text


def test_a_conference_e_mail_names_the_conference_by_number() -> None:
    mail = render_email(event("rj.conference.moved", {"rj_case": 2, "rj_conference": 9, "sequence": 1}), PORTAL)

    assert mail.subject == "Restorative justice conference moved"
    assert "Conference number: 9" in mail.text


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_event_type_has_its_own_wording(event_type: EventType) -> None:
    mail = render_email(event(event_type.value, {"task": 1}), PORTAL)

    assert mail.subject != "Notification" and mail.text.strip()


def test_an_unknown_event_type_still_renders() -> None:
    mail = render_email(event("something.new", {}), PORTAL)

    assert mail.subject == "Notification" and "https://gateway.example.net/portal" in mail.text


@pytest.mark.parametrize(
    ("subject_ids", "expected"),
    [
        ({"task": 12, "referral": 5}, "task:12"),
        ({"consent": 7, "task_ids": [12]}, "consent:7"),
        ({"rj_case": 2, "rj_conference": 9}, "rj-conference:9"),
        ({}, "event:41"),
    ],
)
def test_the_subject_key_keeps_one_subject_in_order(subject_ids: dict[str, object], expected: str) -> None:
    assert subject_key(event("task.requested", subject_ids)) == expected
