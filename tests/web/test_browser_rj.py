"""The RJ journey of issue 17 in a real browser, every page checked with axe-core, error states included.

A co-ordinator registers two facilitators by name, opens a case from a Hub task, adds the person responsible,
gets a second co-ordinator's approval of a sensitive case, checks a booking for clashes and books it with two
facilitators, records a conference that took place with its attendance, the agreement and the follow-up, and
closes the case; the facilitator then signs in and sees their own cases and diary.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import Page, expect
from sqlmodel import col, select

from gateway.auth.models import User
from gateway.clock import utc_now
from gateway.db import create_engine, create_session_factory
from gateway.organisations.models import Organisation
from tests.support.api import Gateway, key, sent_task
from tests.support.browser import Pages, Site, axe, off_browser_thread, submit_empty

UK = ZoneInfo("Europe/London")
ACCEPT = """mutation($i: TaskChangeInput!) { acceptTask(input: $i) { __typename } }"""
REFERENCE = "query($id: ID!) { task(id: $id) { reference } }"


def _setup(site: Site) -> str:
    """An RJ-hub task the hub accepted, and a second facilitator account; the task's reference."""

    async def run() -> str:
        async with httpx.AsyncClient(base_url=site.url) as http:
            gateway = Gateway(http, site.world)
            sent = await sent_task(gateway, "rj-hub", needs=["restorative-justice-interest"])
            change = {"taskId": sent.task_id, "expectedVersion": sent.version, "idempotencyKey": key()}
            await gateway.gql("rj-hub", ACCEPT, {"i": change})
            reference: str = (await gateway.gql("hub", REFERENCE, {"id": sent.task_id}))["data"]["task"]["reference"]
        engine = create_engine(site.settings.database_url)
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
        return reference

    return off_browser_thread(run)


def _date(page: Page, prefix: str, moment: datetime, *, time: bool = False) -> None:
    page.locator(f"#{prefix}-day").fill(str(moment.day))
    page.locator(f"#{prefix}-month").fill(str(moment.month))
    page.locator(f"#{prefix}-year").fill(str(moment.year))
    if time:
        page.locator(f"#{prefix}-time").fill(moment.strftime("%H:%M"))


def _step(page: Page, link: str, fill: Any, button: str, done: str, *, errors: bool = True) -> None:
    """From the case page: follow the step's link, show its errors when submitted empty, fill it in, submit."""
    page.get_by_role("link", name=link, exact=True).click()
    axe(page)
    if errors:
        submit_empty(page, button)
    fill(page)
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.get_by_role("alert", name="Success").get_by_text(done, exact=True)).to_be_visible()
    axe(page)


def _register(page: Page, email: str, name: str) -> None:
    page.get_by_label("Person (their sign-in address)").select_option(label=email)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Probation Service").check()
    page.get_by_label("Accredited practitioner").check()
    _date(page, "expires", utc_now() + timedelta(days=400))
    page.get_by_role("button", name="Register facilitator").click()
    expect(page.get_by_text("Facilitator registered")).to_be_visible()
    axe(page)


def test_a_case_from_hub_task_to_closure_in_the_browser_with_no_axe_violations(pages: Pages, site: Site) -> None:
    task_reference = _setup(site)
    page = pages("rj-coordinator")  # lands on the RJ home, checked
    expect(page.get_by_role("heading", name="Restorative justice cases")).to_be_visible()
    page.get_by_role("link", name="Facilitators", exact=True).first.click()
    axe(page)
    submit_empty(page, "Register facilitator")
    _register(page, "facilitator@portal.test", "Fran Okoro")
    _register(page, "co.facilitator@portal.test", "Chris Lund")
    page.get_by_role("link", name="Renew accreditation of Fran Okoro").click()
    axe(page)
    submit_empty(page, "Renew accreditation")
    page.get_by_role("link", name="Back to facilitators").click()
    axe(page)
    page.get_by_role("link", name="Back to restorative justice cases").click()
    axe(page)
    # Open the case from the Hub task, marked sensitive
    page.get_by_label("Mark sensitive").check()
    page.get_by_role("button", name=f"Open case from task {task_reference}").click()
    expect(page.get_by_text(re.compile(r"Case RJ-\d{4}-\d{6} opened"))).to_be_visible()
    axe(page)
    expect(page.get_by_role("cell", name="Person harmed: Alex Example")).to_be_visible()
    now = utc_now().astimezone(UK)

    def responsible(p: Page) -> None:
        p.get_by_label("Person responsible", exact=True).check()
        p.get_by_label("First name").fill("Barnaby")
        p.get_by_label("Last name").fill("Thistlewood")

    _step(page, "Add a party", responsible, "Add party", "Party added")

    def consent(p: Page) -> None:
        p.get_by_label("Whose consent").select_option(label="Person responsible: Barnaby Thistlewood")
        p.get_by_label("Verbally").check()
        p.get_by_label("Yes").check()

    _step(page, "Record a party's consent", consent, "Record consent", "Consent recorded")
    _step(
        page,
        "Record initial contact",
        lambda p: _date(p, "contacted", now - timedelta(hours=2), time=True),
        "Record initial contact",
        "Initial contact recorded",
    )

    def assess(p: Page) -> None:
        p.get_by_label("Yes").check()
        p.get_by_label("Medium").check()

    _step(page, "Record the assessment", assess, "Record assessment", "Assessment recorded")
    # The assessor cannot approve; a second co-ordinator can
    page.get_by_role("link", name="Approve the assessment", exact=True).click()
    axe(page)
    page.get_by_role("button", name="Approve assessment").click()
    expect(page.get_by_text("There is a problem")).to_be_visible()
    axe(page)
    case_url = page.url.rsplit("/", 1)[0]
    supervisor = pages("rj-supervisor")
    supervisor.goto(case_url)
    axe(supervisor)
    _step(
        supervisor, "Approve the assessment", lambda p: None, "Approve assessment", "Assessment approved", errors=False
    )
    page.goto(case_url)
    axe(page)
    for person in ("Person harmed: Alex Example", "Person responsible: Barnaby Thistlewood"):

        def prepare(p: Page, person: str = person) -> None:
            p.get_by_label("Who the meeting was with").select_option(label=person)
            _date(p, "held", now - timedelta(hours=1), time=True)

        _step(
            page, "Record a preparation meeting", prepare, "Record preparation meeting", "Preparation meeting recorded"
        )

    # Check a booking for clashes before saving, then book it with two facilitators
    page.get_by_role("link", name="Book a conference", exact=True).click()
    axe(page)
    submit_empty(page, "Book conference")
    _date(page, "starts", datetime(now.year + 1, 7, 1, 10, 0, tzinfo=UK), time=True)
    page.get_by_label("Venue (for a conference at a venue)").fill("Parkside Police Station, Room 1")
    for label in ("Person harmed: Alex Example", "Person responsible: Barnaby Thistlewood", "Fran Okoro", "Chris Lund"):
        page.get_by_label(label, exact=True).check()
    page.get_by_role("button", name="Check for clashes").click()
    expect(page.get_by_text("No clashes", exact=True)).to_be_visible()
    axe(page)
    page.get_by_role("button", name="Book conference", exact=True).click()
    expect(page.get_by_text("Conference booked", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"1 July \d{4} at 10:00am"))).to_be_visible()
    axe(page)

    held_at = now - timedelta(minutes=90)

    def past(p: Page) -> None:
        _date(p, "starts", held_at, time=True)
        p.get_by_label("Venue (for a conference at a venue)").fill("Parkside Police Station, Room 2")
        for group in ("Who takes part", "Who attended"):
            fieldset = p.get_by_role("group", name=group)
            for person in ("Person harmed: Alex Example", "Person responsible: Barnaby Thistlewood"):
                fieldset.get_by_label(person, exact=True).check()
        p.get_by_label("Fran Okoro", exact=True).check()

    _step(page, "Record a conference that already happened", past, "Record past conference", "Conference recorded")

    def intervention(p: Page) -> None:
        p.get_by_label("A conference that was held").check()
        p.get_by_label("The conference that was held (for a conference)").select_option(index=1)
        _date(p, "delivered", held_at, time=True)

    _step(page, "Record the intervention", intervention, "Record intervention", "Intervention recorded")

    def agreement(p: Page) -> None:
        p.get_by_label("What was agreed, action 1").fill("Write a letter of apology")
        p.get_by_label("Who will do action 1").select_option(label="Person responsible: Barnaby Thistlewood")
        _date(p, "due-1", now + timedelta(days=14))

    _step(page, "Record the outcome agreement", agreement, "Record agreement", "Outcome agreement recorded")
    _step(
        page,
        "Mark an agreed action done",
        lambda p: p.get_by_label("Agreed action").select_option(label="Write a letter of apology"),
        "Mark action done",
        "Action marked done",
    )
    _step(
        page,
        "Set the follow-up date",
        lambda p: _date(p, "follow-up", now + timedelta(days=30)),
        "Set follow-up date",
        "Follow-up date set",
    )
    _step(
        page,
        "Record the follow-up",
        lambda p: p.get_by_label("Satisfied", exact=True).check(),
        "Record follow-up",
        "Follow-up recorded",
    )
    _step(
        page,
        "Add a note",
        lambda p: p.get_by_label("Note", exact=True).fill("Both parties thanked the facilitators."),
        "Add note",
        "Note added",
    )
    _step(
        page,
        "Close the case",
        lambda p: p.get_by_label("Completed after follow-up").check(),
        "Close case",
        "Case closed",
    )
    # The diary and finding a case
    page.goto("/portal/rj/diary")
    axe(page)
    page.goto("/portal/rj/find")
    axe(page)
    page.get_by_label("Case reference").fill("RJ-1999-000001")
    page.get_by_role("button", name="Find case").click()
    expect(page.get_by_text("No case you can see has that reference").first).to_be_visible()
    axe(page)
    # The facilitator sees their own work and can issue a calendar link
    facilitator = pages("facilitator")
    expect(facilitator.get_by_role("heading", name="Your restorative justice work")).to_be_visible()
    axe(facilitator)
    facilitator.get_by_role("button", name="Issue a new calendar link").click()
    expect(facilitator.get_by_label(re.compile("Copy this link"))).to_have_value(
        re.compile(r"/rj/calendar\.ics\?token=")
    )
    axe(facilitator)
