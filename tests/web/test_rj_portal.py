"""The RJ co-ordinator's and facilitators' pages (issue 17), as a browser without JavaScript uses them.

The whole journey: a co-ordinator registers facilitators by name, opens a case from a Hub task (the person harmed
comes with it), adds the person responsible, gets a second co-ordinator's approval for a sensitive case, checks a
booking for clashes and books it with two facilitators, records a conference afterwards with attendance, the
agreement and the follow-up, and closes the case; the facilitator then sees exactly their cases and diary.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlmodel import col, select

from gateway.auth.models import User
from gateway.clock import utc_now
from gateway.db import create_engine, create_session_factory
from gateway.organisations.models import Organisation
from gateway.restorative_justice.models import Conference, RjCase
from tests.support.api import ApiWorld, Gateway, key, sent_task

UK = ZoneInfo("Europe/London")
ACCEPT = """mutation($i: TaskChangeInput!) { acceptTask(input: $i) {
  __typename ... on TaskPayload { task { id status version } } } }"""
REFERENCE = "query($id: ID!) { task(id: $id) { reference } }"


def title_of(page: httpx.Response) -> str:
    match = re.search(r"<title>(.*?)</title>", page.text, re.S)
    assert match is not None
    return match.group(1)


def when(prefix: str, moment: datetime) -> dict[str, str]:
    """A UK wall-clock date and time as a person types it."""
    return {
        f"{prefix}-day": str(moment.day),
        f"{prefix}-month": str(moment.month),
        f"{prefix}-year": str(moment.year),
        f"{prefix}-time": moment.strftime("%H:%M"),
    }


def on(prefix: str, moment: datetime) -> dict[str, str]:
    return {f"{prefix}-day": str(moment.day), f"{prefix}-month": str(moment.month), f"{prefix}-year": str(moment.year)}


def option_value(page: httpx.Response, text: str) -> str:
    """The value of the option, radio or checkbox whose label shows `text`."""
    match = re.search(r'<option value="([0-9]+)"[^>]*>\s*' + re.escape(text), page.text) or re.search(
        r'value="([0-9]+)"[^>]*>\s*<label[^>]*>\s*' + re.escape(text), page.text
    )
    assert match is not None, text
    return match.group(1)


async def _db_rows(world: ApiWorld, query: Any) -> list[Any]:
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            return list((await db.exec(query)).all())
    finally:
        await engine.dispose()


async def _second_facilitator_user(world: ApiWorld) -> None:
    """Another rj-facilitator member of the hub, who never signs in here (so no password is hashed)."""
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            hub = (await db.exec(select(Organisation).where(col(Organisation.slug) == "rj-hub"))).one()
            assert hub.id is not None
            db.add(
                User(
                    organisation_id=hub.id,
                    email="co.facilitator@portal.test",
                    password_hash="!",
                    roles=["rj-facilitator"],
                )
            )
    finally:
        await engine.dispose()


async def _accepted_rj_task(gateway: Gateway) -> tuple[str, str]:
    sent = await sent_task(gateway, "rj-hub", needs=["restorative-justice-interest"])
    accepted = await gateway.gql(
        "rj-hub", ACCEPT, {"i": {"taskId": sent.task_id, "expectedVersion": sent.version, "idempotencyKey": key()}}
    )
    assert accepted["data"]["acceptTask"]["__typename"] == "TaskPayload", accepted
    reference: str = (await gateway.gql("hub", REFERENCE, {"id": sent.task_id}))["data"]["task"]["reference"]
    return sent.task_id, reference


async def _register(browser: Any, candidate: str, name: str) -> None:
    page = await browser.get("/portal/rj/facilitators")
    expires = utc_now() + timedelta(days=400)
    answer = await browser.post(
        "/portal/rj/facilitators",
        {
            "user": option_value(page, candidate),
            "name": name,
            "agency": "probation-service",
            "level": "accredited-practitioner",
            **on("expires", expires),
            "idempotency_key": key(),
        },
    )
    assert answer.status_code == 200 and "Facilitator registered" in answer.text, answer.text
    assert name in answer.text


async def _step(browser: Any, case_id: str, action: str, data: dict[str, Any], done: str) -> httpx.Response:
    await browser.get(f"/portal/rj/cases/{case_id}/{action}")
    answer: httpx.Response = await browser.post(
        f"/portal/rj/cases/{case_id}/{action}", {**data, "idempotency_key": key()}
    )
    assert answer.status_code == 200 and done in answer.text, (action, answer.status_code, answer.text[-3000:])
    return answer


async def test_a_coordinator_runs_a_case_from_hub_task_to_closure_and_the_facilitator_sees_their_work(
    gateway: Gateway, browsers: Any, world: ApiWorld
) -> None:
    task_id, task_reference = await _accepted_rj_task(gateway)
    await _second_facilitator_user(world)
    coordinator = await browsers("rj-coordinator")
    # The co-ordinator lands on the RJ home, where the accepted task waits to become a case
    home = await coordinator.get("/portal/")
    assert str(home.url).endswith("/portal/rj") and task_reference in home.text
    # Facilitators are registered by choosing a person and naming them
    await _register(coordinator, "facilitator@portal.test", "Fran Okoro")
    await _register(coordinator, "co.facilitator@portal.test", "Chris Lund")
    # Opening the case from the task brings the person harmed in, consenting, and links back to the task
    await coordinator.get("/portal/rj")
    opened = await coordinator.post(
        "/portal/rj/open-case", {"task": task_id, "sensitive": "yes", "idempotency_key": key()}
    )
    assert opened.status_code == 200
    case_id = str(opened.url).rsplit("/", 1)[1]
    reference = re.search(r"Case (RJ-\d{4}-\d{6})", title_of(opened))
    assert reference is not None
    assert "Alex" not in title_of(opened) and "Alex" not in str(opened.url)
    assert "Person harmed: Alex Example" in opened.text and "Consented" in opened.text
    assert f"Hub task {task_reference}" in opened.text
    # The person responsible is added and consents
    await _step(
        coordinator,
        case_id,
        "party",
        {"role": "responsible", "given-name": "Barnaby", "family-name": "Thistlewood", "phone": "07700900123"},
        "Party added",
    )
    page = await coordinator.get(f"/portal/rj/cases/{case_id}/consent")
    responsible = option_value(page, "Person responsible: Barnaby Thistlewood")
    harmed = option_value(page, "Person harmed: Alex Example")
    await _step(
        coordinator,
        case_id,
        "consent",
        {"party": responsible, "method": "verbal", "willing": "yes"},
        "Consent recorded",
    )
    # Contact and assessment; the assessor cannot approve their own assessment of a sensitive case
    now = utc_now().astimezone(UK)
    await _step(
        coordinator, case_id, "contact", when("contacted", now - timedelta(hours=2)), "Initial contact recorded"
    )
    await _step(coordinator, case_id, "assess", {"suitable": "yes", "risk": "medium"}, "Assessment recorded")
    await coordinator.get(f"/portal/rj/cases/{case_id}/approve")
    refused = await coordinator.post(f"/portal/rj/cases/{case_id}/approve", {"idempotency_key": key()})
    assert refused.status_code == 400 and "cannot approve an assessment they recorded" in refused.text
    supervisor = await browsers("rj-supervisor")
    await _step(supervisor, case_id, "approve", {}, "Assessment approved")
    for party in (harmed, responsible):
        await _step(
            coordinator,
            case_id,
            "prepare",
            {"party": party, **when("held", now - timedelta(hours=1))},
            "Preparation meeting recorded",
        )
    # A booking at 10:00 UK time next July, checked for clashes before saving, then booked with two facilitators
    booking_page = await coordinator.get(f"/portal/rj/cases/{case_id}/book")
    fran, chris = option_value(booking_page, "Fran Okoro"), option_value(booking_page, "Chris Lund")
    booking = {
        **when("starts", datetime(now.year + 1, 7, 1, 10, 0, tzinfo=UK)),
        "duration": "90",
        "where": "venue",
        "venue": "Parkside Police Station, Room 1",
        "parties": [harmed, responsible],
        "facilitators": [fran, chris],
        "idempotency_key": key(),
    }
    checked = await coordinator.post(f"/portal/rj/cases/{case_id}/book", {**booking, "check": "yes"})
    assert checked.status_code == 200 and "No clashes" in checked.text
    assert await _db_rows(world, select(Conference.id)) == []
    booked = await coordinator.post(f"/portal/rj/cases/{case_id}/book", booking)
    assert "Conference booked" in booked.text and "1 July" in booked.text and "10:00am" in booked.text
    assert 'Lead facilitator</dt><dd class="govuk-summary-list__value">Fran Okoro' in booked.text.replace("\n", "")
    # A conference that already happened is recorded with its attendance, then the intervention and the rest
    held_at = now - timedelta(minutes=90)
    past = {
        **booking,
        **when("starts", held_at),
        "venue": "Parkside Police Station, Room 2",
        "attended": [harmed, responsible],
        "facilitators": [fran],
    }
    past.pop("idempotency_key")
    recorded = await _step(coordinator, case_id, "past-conference", past, "Conference recorded")
    assert "(recorded afterwards)" in recorded.text
    # Moving on cancels the booked conference the case no longer needs
    page = await coordinator.get(f"/portal/rj/cases/{case_id}/intervention")
    held = re.search(r'<option value="([0-9]+)"[^>]*>\s*Conference', page.text)
    assert held is not None
    await _step(
        coordinator,
        case_id,
        "intervention",
        {"kind": "direct-conference", "conference": held.group(1), **when("delivered", held_at)},
        "Intervention recorded",
    )
    due = now + timedelta(days=14)
    await _step(
        coordinator,
        case_id,
        "agreement",
        {"action-1": "Write a letter of apology", "owner-1": responsible, **on("due-1", due)},
        "Outcome agreement recorded",
    )
    page = await coordinator.get(f"/portal/rj/cases/{case_id}/action-done")
    action = re.search(r'<option value="([0-9]+)"[^>]*>\s*Write a letter', page.text)
    assert action is not None
    await _step(coordinator, case_id, "action-done", {"action": action.group(1)}, "Action marked done")
    await _step(coordinator, case_id, "follow-up-date", on("follow-up", now + timedelta(days=30)), "Follow-up date set")
    await _step(coordinator, case_id, "follow-up", {"satisfaction": "satisfied"}, "Follow-up recorded")
    closed = await _step(coordinator, case_id, "close", {"reason": "completed"}, "Case closed")
    assert "Completed after follow-up" in closed.text
    rows = await _db_rows(
        world, select(RjCase.stage, RjCase.co_facilitator_id).where(col(RjCase.reference) == reference.group(1))
    )
    assert rows[0][0] == "closed" and rows[0][1] is not None
    statuses = sorted(await _db_rows(world, select(Conference.status)))
    assert statuses == ["cancelled", "held"]
    # The facilitator sees their own cases and diary only, and can issue their calendar link
    facilitator = await browsers("facilitator")
    mine = await facilitator.get("/portal/")
    assert str(mine.url).endswith("/portal/rj/mine")
    assert "You have no open cases." in mine.text  # the only case they led is closed
    case_page = await facilitator.get(f"/portal/rj/cases/{case_id}")
    assert case_page.status_code == 200 and reference.group(1) in case_page.text
    for forbidden in ("/portal/rj/diary", "/portal/rj/facilitators", f"/portal/rj/cases/{case_id}/close"):
        assert (await facilitator.get(forbidden)).status_code == 404, forbidden
    issued = await facilitator.post("/portal/rj/mine", {})
    link = re.search(r'value="(http[^"]+/rj/calendar\.ics\?token=[^"]+)"', issued.text)
    assert link is not None
    feed = await facilitator.http.get(link.group(1).split("127.0.0.1:8000", 1)[-1].replace("&amp;", "&"))
    assert feed.status_code == 200 and "TZID=Europe/London" in feed.text and "Alex" not in feed.text


async def test_invalid_input_is_refused_with_the_error_summary_and_nothing_changes(
    gateway: Gateway, browsers: Any, world: ApiWorld
) -> None:
    task_id, _ = await _accepted_rj_task(gateway)
    coordinator = await browsers("rj-coordinator")
    await coordinator.get("/portal/rj")
    opened = await coordinator.post("/portal/rj/open-case", {"task": task_id, "idempotency_key": key()})
    case_id = str(opened.url).rsplit("/", 1)[1]
    await coordinator.get(f"/portal/rj/cases/{case_id}/party")
    answer = await coordinator.post(
        f"/portal/rj/cases/{case_id}/party",
        {"role": "x", "given-name": "", "family-name": "Y" * 101, "safe-contact": "s" * 2001, "idempotency_key": key()},
    )
    assert answer.status_code == 400
    assert "There is a problem" in answer.text and 'href="#role"' in answer.text and 'href="#given-name"' in answer.text
    assert "Y" * 101 not in answer.text.split("govuk-error-summary")[1].split("</div>")[0]
    # A note without the CSRF token changes nothing
    await coordinator.get(f"/portal/rj/cases/{case_id}/note")
    forged = await coordinator.post(
        f"/portal/rj/cases/{case_id}/note", {"note": "Forged", "idempotency_key": key()}, csrf=False
    )
    assert forged.status_code == 403
    page = await coordinator.get(f"/portal/rj/cases/{case_id}")
    assert "Forged" not in page.text and page.text.count("Person harmed") == 1
    # A case number that does not exist, or is not a number, is the 404 page
    for path in ("/portal/rj/cases/999999", "/portal/rj/cases/x1", f"/portal/rj/cases/{case_id}/nothing"):
        assert (await coordinator.get(path)).status_code == 404, path


async def test_people_outside_the_rj_hub_reach_none_of_its_pages(gateway: Gateway, browsers: Any) -> None:
    task_id, _ = await _accepted_rj_task(gateway)
    coordinator = await browsers("rj-coordinator")
    await coordinator.get("/portal/rj")
    opened = await coordinator.post("/portal/rj/open-case", {"task": task_id, "idempotency_key": key()})
    case_id = str(opened.url).rsplit("/", 1)[1]
    for who in ("cpn", "coordinator"):
        outsider = await browsers(who)
        for path in ("/portal/rj", f"/portal/rj/cases/{case_id}", "/portal/rj/facilitators"):
            assert (await outsider.get(path)).status_code == 404, (who, path)


async def test_a_case_is_found_by_its_reference_and_facilitators_see_only_their_own(
    gateway: Gateway, browsers: Any
) -> None:
    task_id, _ = await _accepted_rj_task(gateway)
    coordinator = await browsers("rj-coordinator")
    await coordinator.get("/portal/rj")
    opened = await coordinator.post("/portal/rj/open-case", {"task": task_id, "idempotency_key": key()})
    case_id = str(opened.url).rsplit("/", 1)[1]
    reference = re.search(r"Case (RJ-\d{4}-\d{6})", title_of(opened))
    assert reference is not None
    found = await coordinator.get(f"/portal/rj/find?reference={reference.group(1).lower()}")
    assert str(found.url).endswith(f"/portal/rj/cases/{case_id}")
    missing = await coordinator.get("/portal/rj/find?reference=RJ-1999-000001")
    assert missing.status_code == 404 and "No case you can see has that reference" in missing.text
    # A facilitator not assigned to it finds nothing, and cannot open it
    facilitator = await browsers("facilitator")
    assert (await facilitator.get(f"/portal/rj/find?reference={reference.group(1)}")).status_code == 404
    assert (await facilitator.get(f"/portal/rj/cases/{case_id}")).status_code == 404
