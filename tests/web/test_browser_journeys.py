"""The portal's journeys in a real browser, every page checked with axe-core (tests/support/browser.py).

The issue's "done when": a co-ordinator creates a referral with consent to two providers, each provider's
caseworker accepts, contacts and completes with outcomes, and the co-ordinator withdraws a consent. Each flow also
meets its error state once (a form sent with a required answer missing), which axe checks like any page.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import (
    Pages,
    Site,
    api_sent_task,
    api_task,
    axe,
    choose_radio,
    follow,
    ledger,
    press_button,
    submit_empty,
    tab_to,
    type_into,
)
from tests.support.portal import STAFF

LONDON = ZoneInfo("Europe/London")
CPN = "Mental Health Pathfinders (Community Psychiatric Nurses)"
ROAD = "Road Victims Trust"
MOJ_MEASURES = (
    "Better informed and empowered",
    "Improved health and wellbeing",
    "Better able to cope and recover",
    "Feeling safer",
)


def uk_moment() -> datetime:
    """A moment a caseworker would type for "just now", to the minute: the next minute, so that it is never
    before the task was sent (the service allows a few minutes' clock skew ahead, and no moment before sending)."""
    return (datetime.now(LONDON) + timedelta(minutes=1)).replace(second=0, microsecond=0)


def group(page: Page, legend: str) -> Locator:
    return page.get_by_role("group", name=legend, exact=True)


def fill_date(page: Page, legend: str, moment: datetime) -> None:
    dates = page.get_by_role("group", name=re.compile("^" + re.escape(legend)))
    dates.get_by_label("Day", exact=True).fill(str(moment.day))
    dates.get_by_label("Month", exact=True).fill(str(moment.month))
    dates.get_by_label("Year", exact=True).fill(str(moment.year))


def choose(page: Page, legend: str, option: str) -> None:
    group(page, legend).get_by_label(option, exact=True).check()


def proceed(page: Page, button: str = "Continue") -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()
    axe(page)


def flash(page: Page, message: str) -> None:
    expect(page.get_by_role("alert", name="Success")).to_contain_text(message)


# -- the co-ordinator -------------------------------------------------------------------------------------------


def create_referral_to_two_providers(page: Page) -> str:
    """Hub home to a sent referral, through every question page; returns the referral page's address."""
    assert "/portal/hub" in page.url
    follow(page, page.get_by_role("button", name="Create a referral"))
    expect(page.get_by_role("heading", name="About the victim")).to_be_visible()
    axe(page)

    summary = submit_empty(page, "Continue")  # the flow's error state: nothing answered
    expect(summary).to_contain_text("first name")
    axe(page)
    page.get_by_label("First name", exact=True).fill("Robin")
    page.get_by_label("Last name", exact=True).fill("Example")
    fill_date(page, "Date of birth", datetime(1990, 4, 12, tzinfo=LONDON))
    proceed(page)

    expect(page.get_by_role("heading", name="How can the victim be contacted?")).to_be_visible()
    page.get_by_label("Address", exact=True).fill("1 Example Road, Cambridge")
    page.get_by_label("Postcode", exact=True).fill("CB1 2AB")
    page.get_by_label("Phone number", exact=True).fill("07700900123")
    proceed(page)

    expect(page.get_by_role("heading", name="How can the victim be contacted safely?")).to_be_visible()
    page.get_by_label("Safe phone number (optional)", exact=True).fill("07700900456")
    page.get_by_label("Safe times to call (optional)", exact=True).fill("Weekdays 10am to 12pm")
    page.get_by_label("The perpetrator lives at the victim's address", exact=True).check()
    proceed(page)

    expect(page.get_by_role("heading", name="About the crime")).to_be_visible()
    choose(page, "How did the case reach the Hub?", "Officer's needs assessment")
    choose(page, "Type of crime", "Road collision")
    choose(page, "Was the crime reported to police?", "Yes")
    page.get_by_label("Crime reference (optional)", exact=True).fill("CC-2026-0042")
    proceed(page)

    expect(page.get_by_role("heading", name="What does the victim need?")).to_be_visible()
    page.get_by_label("Mental health", exact=True).check()
    page.get_by_label("Emotional", exact=True).check()
    proceed(page)

    expect(page.get_by_role("heading", name="Which providers should the referral go to?")).to_be_visible()
    # An ineligible provider is shown with its reason and cannot be chosen.
    expect(page.get_by_text("Cannot take this referral").first).to_be_visible()
    expect(page.get_by_role("checkbox", name="Specialist Victim Care Co-ordinator for Young Victims")).to_have_count(0)
    page.get_by_label(CPN, exact=True).check()
    page.get_by_label(ROAD, exact=True).check()
    proceed(page)

    for number, provider in enumerate((CPN, ROAD)):
        expect(page.get_by_role("heading", name=f"Consent to share with {provider}")).to_be_visible()
        if number == 0:
            submit_empty(page, "Continue")
        choose(page, "Who gave consent?", "The victim")
        choose(page, "How was consent given?", "Verbal")
        fill_date(page, "When was consent given?", datetime.now(LONDON))
        for box in group(page, "What information may be shared?").get_by_role("checkbox").all():
            box.check()
        choose(page, "May anonymised figures about the victim be counted in statistics?", "Yes")
        proceed(page)

    expect(page.get_by_role("heading", name="Check your answers before sending the referral")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Consent to share with {CPN}")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Consent to share with {ROAD}")).to_be_visible()
    proceed(page, "Send referral")
    flash(page, "Referral sent to 2 providers")
    expect(page.get_by_role("heading", name=re.compile(r"^Referral "))).to_be_visible()
    assert "Robin" not in page.title() and "Robin" not in page.url
    return page.url


def withdraw_consent(page: Page, referral_url: str, provider: str) -> None:
    page.goto(referral_url)
    axe(page)
    follow(page, page.get_by_role("link", name=f"Withdraw consent for {provider}", exact=True))
    expect(page.get_by_role("heading", name="Withdraw this consent")).to_be_visible()
    expect(page.get_by_role("heading", name=f"{provider} will lose")).to_be_visible()
    axe(page)
    proceed(page, "Withdraw consent and cancel the open tasks")
    expect(page.get_by_role("heading", name=re.compile(r"^Referral "))).to_be_visible()
    card = page.get_by_role("heading", name=re.compile(r"^Consent recorded")).locator("xpath=ancestor::div[2]")
    withdrawn = card.filter(has_text=provider).filter(has_text="Withdrawn")
    expect(withdrawn).to_have_count(1)


# -- the provider's caseworker ----------------------------------------------------------------------------------


def open_only_task(page: Page) -> str:
    """From the inbox, the one task this organisation has; returns the task page's address."""
    assert "/portal/inbox" in page.url
    table = page.get_by_role("table", name=re.compile(r"^1 task"))
    follow(page, table.get_by_role("row").nth(1).get_by_role("link").first)
    expect(page.get_by_role("heading", name=re.compile(r"^Task "))).to_be_visible()
    axe(page)
    return page.url


def support_to_completion(page: Page, *, with_errors: bool) -> None:
    """On a task page: accept, a contact attempt, first contact, and completion with the outcome measures."""
    safe = page.get_by_role("region", name="Safe contact: read before you contact this person")
    expect(safe).to_be_visible()
    expect(safe).to_contain_text("perpetrator")

    follow(page, page.get_by_role("button", name="Accept task"))
    expect(page.get_by_role("heading", name="Accept task")).to_be_visible()
    axe(page)
    proceed(page, "Accept task")
    flash(page, "Task accepted")

    follow(page, page.get_by_role("button", name="Record a contact attempt"))
    axe(page)
    if with_errors:
        summary = submit_empty(page, "Save contact attempt")
        expect(summary).to_contain_text("time of the contact attempt")
    moment = uk_moment()
    fill_date(page, "Date of the contact attempt", moment)
    page.get_by_label("Time of the contact attempt", exact=True).fill(moment.strftime("%H:%M"))
    choose(page, "How did you try to contact the person?", "Phone call")
    choose(page, "What happened?", "No answer")
    proceed(page, "Save contact attempt")
    flash(page, "Contact attempt recorded")

    follow(page, page.get_by_role("button", name="Record first contact"))
    axe(page)
    moment = uk_moment()
    fill_date(page, "Date of the first contact", moment)
    page.get_by_label("Time of the first contact", exact=True).fill(moment.strftime("%H:%M"))
    proceed(page, "Save first contact")
    flash(page, "First contact recorded")

    follow(page, page.get_by_role("button", name="Complete with outcome"))
    axe(page)
    if with_errors:
        summary = submit_empty(page, "Complete task")
        expect(summary).to_contain_text("better informed and empowered")
    for measure in MOJ_MEASURES:
        choose(page, measure, "Improved")
    proceed(page, "Complete task")
    flash(page, "Task completed")
    expect(page.get_by_role("heading", name="What you can do")).to_have_count(0)  # nothing left to do


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_referral_to_two_providers_is_supported_to_completion_and_a_consent_withdrawn(
    pages: Pages, javascript: bool
) -> None:
    coordinator = pages("coordinator", javascript=javascript)
    referral_url = create_referral_to_two_providers(coordinator)

    cpn = pages("cpn", javascript=javascript)
    cpn_task = open_only_task(cpn)
    support_to_completion(cpn, with_errors=True)

    road = pages("road-victims-trust", javascript=javascript)
    road_task = open_only_task(road)
    support_to_completion(road, with_errors=False)

    coordinator.goto(referral_url)
    expect(coordinator.get_by_text("Completed", exact=True).first).to_be_visible()
    expect(coordinator.get_by_role("link", name=re.compile(r"^Cancel task "))).to_have_count(0)  # both are closed
    axe(coordinator)
    withdraw_consent(coordinator, referral_url, ROAD)

    # The Road Victims Trust no longer sees the victim; the CPN service, whose consent stands, still does.
    road.goto(road_task)
    expect(road.get_by_role("heading", name="The person's details have been removed")).to_be_visible()
    expect(road.get_by_text("Robin")).to_have_count(0)
    axe(road)
    cpn.goto(cpn_task)
    expect(cpn.get_by_text("Robin Example")).to_be_visible()
    axe(cpn)

    # No page of the whole journey carried the victim's details in its address or its title.
    personal = ("Robin", "Example", "07700900123", "07700900456", "CB1 2AB", "CB1+2AB", "CB1%202AB")
    for person in (coordinator, cpn, road):
        for seen in ledger(person).loaded + ledger(person).titles:
            assert not any(item in seen for item in personal), seen


# -- the keyboard alone -------------------------------------------------------------------------------------------


def keyboard_sign_in(page: Page, who: str) -> None:
    member = STAFF[who]
    page.goto("/portal/sign-in")
    axe(page)
    type_into(page, page.get_by_label("Email address", exact=True), member.email)
    type_into(page, page.get_by_label("Password", exact=True), member.password)
    with page.expect_navigation(url="**/portal/inbox"):
        page.keyboard.press("Enter")  # submits the form from its last field
    axe(page)


def keyboard_date(page: Page, legend: str, moment: datetime) -> None:
    dates = page.get_by_role("group", name=re.compile("^" + re.escape(legend)))
    type_into(page, dates.get_by_label("Day", exact=True), str(moment.day))
    type_into(page, dates.get_by_label("Month", exact=True), str(moment.month))
    type_into(page, dates.get_by_label("Year", exact=True), str(moment.year))


def keyboard_choose(page: Page, legend: str, option: str) -> None:
    radios = group(page, legend)
    choose_radio(page, radios, radios.get_by_label(option, exact=True))


def keyboard_go(page: Page, target: Locator) -> None:
    """Follow a link, or press a button, with the keyboard: Tab to it, Enter; then check the page it opens."""
    press_button(page, target)
    axe(page)


def test_a_caseworker_supports_a_victim_with_the_keyboard_alone(pages: Pages, site: Site) -> None:
    sent = api_sent_task(site, "cpn")
    page = pages()
    keyboard_sign_in(page, "cpn")

    keyboard_go(page, page.get_by_role("link", name=re.compile(r"^REF-")).first)
    assert page.url.endswith(f"/portal/tasks/{sent.task_id}")
    keyboard_go(page, page.get_by_role("button", name="Accept task"))
    keyboard_go(page, page.get_by_role("button", name="Accept task"))
    flash(page, "Task accepted")

    keyboard_go(page, page.get_by_role("button", name="Record a contact attempt"))
    keyboard_go(page, page.get_by_role("button", name="Save contact attempt"))  # nothing answered: the errors
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()
    # The error summary's links take the keyboard to each question (Shift+Tab back up the page to reach them).
    first_error = page.get_by_role("alert").get_by_role("link").first
    tab_to(page, first_error, backwards=True)
    moment = uk_moment()
    keyboard_date(page, "Date of the contact attempt", moment)
    type_into(page, page.get_by_label("Time of the contact attempt", exact=True), moment.strftime("%H:%M"))
    keyboard_choose(page, "How did you try to contact the person?", "Text message")
    keyboard_choose(page, "What happened?", "Message sent")
    keyboard_go(page, page.get_by_role("button", name="Save contact attempt"))
    flash(page, "Contact attempt recorded")

    keyboard_go(page, page.get_by_role("button", name="Record first contact"))
    moment = uk_moment()
    keyboard_date(page, "Date of the first contact", moment)
    type_into(page, page.get_by_label("Time of the first contact", exact=True), moment.strftime("%H:%M"))
    keyboard_go(page, page.get_by_role("button", name="Save first contact"))
    flash(page, "First contact recorded")

    keyboard_go(page, page.get_by_role("button", name="Complete with outcome"))
    for measure, result in zip(MOJ_MEASURES, ("Improved", "Not improved", "Improved", "Not applicable"), strict=True):
        keyboard_choose(page, measure, result)
    type_into(page, page.get_by_label("Score at the start of support", exact=True), "40")
    type_into(page, page.get_by_label("Score at the end of support", exact=True), "65")
    keyboard_go(page, page.get_by_role("button", name="Complete task"))
    flash(page, "Task completed")

    task = api_task(site, "cpn", sent.task_id)
    assert task["status"] == "COMPLETED", task


# -- authorisation, as a person changing the address would meet it ------------------------------------------------


def test_a_caseworker_changing_the_address_meets_the_same_page_as_a_missing_one(pages: Pages, site: Site) -> None:
    theirs = api_sent_task(
        site, "rape-crisis", age=15, crime="sexual-offence", needs=["sexual-violence-support", "young-person"]
    )
    mine = api_sent_task(site, "cpn")
    page = pages("cpn")

    missing = page.goto("/portal/tasks/999999")
    assert missing is not None and missing.status == 404
    axe(page)
    missing_title, missing_main = page.title(), page.get_by_role("main").inner_text()
    assert "Page not found" in missing_main

    not_mine = [
        f"/portal/tasks/{theirs.task_id}",
        f"/portal/tasks/{theirs.task_id}/accept",
        f"/portal/tasks/{theirs.task_id}/complete",
        f"/portal/referrals/{theirs.referral_id}",
        f"/portal/referrals/{mine.referral_id}",  # even the referral behind this caseworker's own task
        "/portal/hub",
        "/portal/referrals",
        "/portal/referrals/new",
    ]
    for address in not_mine:
        answer = page.goto(address)
        assert answer is not None and answer.status == 404, address
        assert page.title() == missing_title, address
        assert page.get_by_role("main").inner_text() == missing_main, address
        axe(page)

    answer = page.goto(f"/portal/tasks/{mine.task_id}")
    assert answer is not None and answer.status == 200
    axe(page)
    assert api_task(site, "rape-crisis", theirs.task_id)["status"] == "REQUESTED"  # nothing was touched
