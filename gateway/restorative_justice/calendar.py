"""A facilitator's conferences as an iCalendar (RFC 5545) feed, built with the icalendar library.

What leaves the building here lands in third-party calendar services, so an event carries the case reference,
the time and the status, and nothing else: no party names, no venue (a venue can be someone's home), no notes.
Times go out in the Europe/London zone, with its VTIMEZONE, so every calendar shows the UK wall-clock time the
co-ordinator booked, on either side of a clock change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from icalendar import Calendar, Event

from gateway.clock import as_utc
from gateway.restorative_justice.models import ConferenceStatus
from gateway.restorative_justice.service import UK, FeedConference

PRODUCT_ID = "-//Referral gateway//RJ hub conferences//EN"
STATUS = {
    ConferenceStatus.SCHEDULED.value: "CONFIRMED",
    ConferenceStatus.HELD.value: "CONFIRMED",
    ConferenceStatus.CANCELLED.value: "CANCELLED",
}


def conference_title(case_reference: str) -> str:
    return f"RJ conference {case_reference}"


def build_feed(*, uid_domain: str, conferences: Sequence[FeedConference], generated_at: datetime) -> bytes:
    """The feed's bytes: one VEVENT per conference, titled by case reference only."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "RJ conferences")
    calendar.add("x-wr-timezone", UK.key)
    for item in conferences:
        conference = item.conference
        event = Event()
        # Stable across reschedules, so a calendar client updates the event instead of adding a second one.
        event.add("uid", f"rj-conference-{conference.id}@{uid_domain}")
        event.add("dtstamp", as_utc(generated_at))
        event.add("dtstart", as_utc(conference.starts_at).astimezone(UK))
        event.add("dtend", as_utc(conference.ends_at).astimezone(UK))
        event.add("sequence", conference.sequence)
        event.add("summary", conference_title(item.case_reference))
        event.add("location", "Video call" if conference.video_call else "Venue in the gateway")
        event.add("status", STATUS[conference.status])
        event.add("class", "CONFIDENTIAL")
        calendar.add_component(event)
    # The zone's rules from a year before the feed's oldest possible event, not from 1970.
    calendar.add_missing_timezones(first_date=(generated_at - timedelta(days=366)).date())
    feed: bytes = calendar.to_ical()
    return feed
