"""The data-protection officer's audit-trail page in a real browser: reached from sign-in, an error state and a
filtered trail, with axe-core on each page."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.browser import Pages, Site, axe, follow


def test_the_officer_filters_the_audit_trail_and_meets_a_clear_error(pages: Pages, site: Site) -> None:
    page = pages("officer")  # the officer starts at the audit trail

    expect(page.get_by_role("heading", level=1)).to_contain_text("Audit trail")

    page.get_by_label("Victim's record number").fill("12x")
    follow(page, page.get_by_role("button", name="Show the trail"))
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_visible()
    assert "12x" not in summary.inner_text()  # the error does not repeat what was typed
    axe(page)

    page.get_by_label("Victim's record number").fill("")
    page.get_by_label("From (UK date)").fill("2026-01-01")
    follow(page, page.get_by_role("button", name="Show the trail"))
    expect(page.get_by_role("alert")).to_have_count(0)
    axe(page)
