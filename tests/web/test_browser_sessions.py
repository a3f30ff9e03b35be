"""Signing in and out, and the idle-timeout warning, in a real browser (tests/support/browser.py)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.browser import Pages, axe, follow, sign_in
from tests.support.portal import STAFF

IDLE_MS = 30 * 60 * 1000
WARNING_MS = 2 * 60 * 1000
WARNING_HEADING = "You\u2019re about to be signed out"  # GOV.UK's typographic apostrophe


def _session_cookie(page: Page) -> dict[str, object]:
    cookies = [c for c in page.context.cookies() if c["name"] == "portal_session"]
    assert len(cookies) == 1, cookies
    return dict(cookies[0])


def test_a_coordinator_signs_in_with_the_form_and_lands_on_the_hub(pages: Pages) -> None:
    page = pages()
    page.goto("/portal/")
    assert "/oauth/authorize" in page.url  # not signed in: sent to sign in
    expect(page).to_have_title("Sign in - Referral gateway")
    axe(page)
    page.get_by_role("button", name="Sign in").click()  # nothing typed: an error, and no one signed in
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()
    axe(page)
    sign_in(page, "coordinator")
    assert "/portal/hub" in page.url
    cookie = _session_cookie(page)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/portal"
    assert STAFF["coordinator"].email not in page.url and STAFF["coordinator"].email not in page.title()


def test_a_caseworker_signs_out_and_the_old_cookie_reaches_nothing(pages: Pages) -> None:
    page = pages("cpn")
    assert "/portal/inbox" in page.url
    stolen = _session_cookie(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    axe(page)
    assert not [c for c in page.context.cookies() if c["name"] == "portal_session"]

    thief = pages()
    thief.context.add_cookies([stolen])  # type: ignore[list-item]
    thief.goto("/portal/inbox")
    assert "/oauth/authorize" in thief.url
    expect(thief.get_by_role("heading", name="Sign in to the referral gateway")).to_be_visible()
    axe(thief)


def test_the_idle_timeout_warning_appears_and_stay_signed_in_keeps_the_session(pages: Pages) -> None:
    page = pages()
    page.clock.install()
    sign_in(page, "cpn")
    dialog = page.get_by_role("alertdialog", name=WARNING_HEADING)
    expect(dialog).to_be_hidden()
    page.clock.run_for(IDLE_MS - WARNING_MS - 5_000)
    expect(dialog).to_be_hidden()
    page.clock.run_for(10_000)
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("we will sign you out in 2 minutes")
    stay = dialog.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_focused()  # the least drastic choice has the focus: Enter keeps the person signed in
    axe(page)
    with page.expect_response("**/portal/keep-alive") as kept:
        page.keyboard.press("Enter")
    assert kept.value.status == 204  # the server took the form's CSRF token and touched the session
    expect(dialog).to_be_hidden()
    page.clock.run_for(IDLE_MS - WARNING_MS - 5_000)
    expect(dialog).to_be_hidden()  # the count started again from the "stay signed in"
    page.clock.run_for(10_000)
    expect(dialog).to_be_visible()
    assert "/portal/inbox" in page.url
    # The page's own request context shares the browser's cookie: the session is alive on the server.
    inbox = page.request.get("/portal/inbox", max_redirects=0)
    assert inbox.status == 200 and f"Signed in as {STAFF['cpn'].email}" in inbox.text()


def test_an_ignored_timeout_warning_ends_at_the_signed_out_page(pages: Pages) -> None:
    page = pages()
    page.clock.install()
    sign_in(page, "coordinator")
    dialog = page.get_by_role("alertdialog", name=WARNING_HEADING)
    page.clock.run_for(IDLE_MS - WARNING_MS + 1_000)
    expect(dialog).to_be_visible()
    page.clock.run_for(WARNING_MS)
    page.wait_for_url("**/portal/signed-out")
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    axe(page)


def test_without_javascript_people_sign_in_see_their_pages_and_sign_out(pages: Pages) -> None:
    page = pages(javascript=False)
    sign_in(page, "road-victims-trust")
    expect(page.locator("body.js-enabled")).to_have_count(0)  # really no JavaScript ran
    assert "/portal/inbox" in page.url
    expect(page.get_by_role("alertdialog")).to_have_count(0)  # no warning without JavaScript: the server ends it
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    axe(page)
    page.goto("/portal/inbox")
    assert "/oauth/authorize" in page.url
    axe(page)


def test_sign_out_from_the_timeout_warning_ends_the_session(pages: Pages) -> None:
    page = pages()
    page.clock.install()
    sign_in(page, "family-action")
    stolen = _session_cookie(page)
    dialog = page.get_by_role("alertdialog", name=WARNING_HEADING)
    page.clock.run_for(IDLE_MS - WARNING_MS + 1_000)
    expect(dialog).to_be_visible()
    axe(page)
    follow(page, dialog.get_by_text("Sign out", exact=True))
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    axe(page)

    thief = pages()
    thief.context.add_cookies([stolen])  # type: ignore[list-item]
    thief.goto("/portal/inbox")
    assert "/oauth/authorize" in thief.url
    axe(thief)
