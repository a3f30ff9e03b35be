"""The analyst's journey in a real browser: the year's overview, its trends, a provider, both downloads; axe on each.

The casework is the quarter of issue 18 (2025-Q1), made through the real services in the served database, so the
pages show suppressed figures the way they must: said in words, never drawn or written as a number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from gateway.db import create_engine, create_session_factory
from gateway.organisations.models import Organisation
from providers.registry import get_profile
from tests.monitoring.scenario import issue_quarter
from tests.support import casework as casework_support
from tests.support.browser import Pages, Site, axe, off_browser_thread, submit_empty
from tests.support.casework import Clock
from tests.support.domain import World

clock = casework_support.clock  # the settable clock: the casework happens in 2025


def _make_casework(site: Site, clock: Clock) -> None:
    async def work() -> None:
        engine = create_engine(site.settings.database_url)
        try:
            async with create_session_factory(engine)() as db:
                organisations = (await db.exec(select(Organisation))).all()
                await issue_quarter(db, World({o.slug: o for o in organisations}), clock)
        finally:
            await engine.dispose()

    off_browser_thread(work)


def test_an_analyst_reads_the_year_and_its_trends_opens_a_provider_and_downloads_the_return(
    pages: Pages, site: Site, clock: Clock, tmp_path: Path
) -> None:
    _make_casework(site, clock)
    page = pages("commissioner")  # signed in, the analyst starts at the Commissioner's overview

    expect(page.get_by_role("heading", level=1)).to_contain_text("Overview, financial year")
    page.get_by_label("Financial year").select_option("2025")
    page.get_by_role("button", name="Show this year").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview, financial year 2025 to 2026")
    axe(page)
    referrals = page.get_by_role("table", name=re.compile("Referrals and first contact"))
    expect(referrals.get_by_role("row", name=re.compile("All providers"))).to_contain_text("39")
    expect(referrals).to_contain_text("Suppressed")

    page.get_by_role("link", name="Trends by quarter, 2025 to 2026").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Trends: referrals received, 2025 to 2026")
    chart = page.get_by_role("img", name=re.compile("Bar chart of referrals received"))
    expect(chart).to_be_visible()
    # The SVG is drawn on the server for each request: wait for it, then check the browser could show it
    expect(chart).to_have_js_property("complete", True)
    assert chart.evaluate("image => image.naturalWidth") > 0
    axe(page)
    page.get_by_role("link", name="Cases completed").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Trends: cases completed, 2025 to 2026")
    axe(page)

    page.get_by_role("link", name="Overview of 2025 to 2026").click()
    axe(page)
    page.get_by_role("link", name="Restorative Justice Hub").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("2025 to 2026")
    disability = page.get_by_role("table", name="Referrals received by disability")
    expect(disability.get_by_role("row", name=re.compile("^Yes"))).to_contain_text("Suppressed")
    axe(page)

    page.get_by_role("link", name="Download the quarterly return and the monitoring figures").click()
    axe(page)
    for name, suffix in (("CSV quarterly return 2025-Q1", ".csv"), ("Excel quarterly return 2025-Q1", ".xlsx")):
        with page.expect_download() as downloading:
            page.get_by_role("link", name=name).click()
        download = downloading.value
        assert download.suggested_filename == f"quarterly-return-2025-Q1{suffix}"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        assert saved.stat().st_size > 0
    csv_text = (tmp_path / "quarterly-return-2025-Q1.csv").read_text()
    assert "[c]" in csv_text and csv_text.splitlines()[0].startswith("period,provider")

    # The grants, which the analyst reads but may not record
    page.get_by_role("link", name="Grants", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Grants and targets")
    axe(page)
    expect(page.get_by_role("button", name="Record a grant")).to_have_count(0)

    # The grant manager's form to record one, error state included
    page = pages("grants")
    page.goto("/portal/commissioner/grants")
    expect(page.get_by_role("heading", level=1)).to_have_text("Grants and targets")
    axe(page)
    page.get_by_role("button", name="Record a grant").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Record a grant")
    axe(page)
    summary = submit_empty(page, "Record the grant")
    expect(summary).to_contain_text("Select the provider the grant pays")
    cpn = get_profile("cpn")
    assert cpn is not None
    page.get_by_label("Provider", exact=True).select_option("cpn")
    page.get_by_label("Grant reference").fill("PCC-2025-CPN-01")
    page.get_by_label("Amount").fill("120000")
    page.get_by_label("First financial year").fill("2025")
    page.get_by_label("Last financial year").fill("2025")
    page.get_by_label("Police and Crime Commissioner core funding").check()
    page.get_by_label(f"{cpn.display_name}: {cpn.services[0]}").check()
    page.get_by_label("Referrals received in the quarter").fill("40")
    page.get_by_role("button", name="Record the grant").click()
    expect(page.get_by_text("Grant PCC-2025-CPN-01 recorded")).to_be_visible()
    axe(page)
    page.get_by_role("link", name=re.compile("PCC-2025-CPN-01")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit grant PCC-2025-CPN-01")
    axe(page)


@pytest.mark.parametrize("who", ["coordinator", "cpn"])
def test_hub_and_provider_staff_changing_the_address_see_the_missing_page(pages: Pages, who: str) -> None:
    page = pages(who)
    page.goto("/portal/commissioner/2025")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    axe(page)
