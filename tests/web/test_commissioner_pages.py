"""The Commissioner's office's pages: the year's figures, trends with charts, a provider, grants and downloads.

The casework is made through the real services in 2025-Q1 (the quarter of issue 18, whose small cells gave
suppressed figures away under the old rule) and the pages are read as the analyst signs in to read them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from matplotlib.axes import Axes
from sqlmodel import select

from gateway.auth import service as auth_service
from gateway.db import AsyncSession
from gateway.monitoring.cli import report
from gateway.organisations.models import Organisation
from tests.monitoring.attacker import recover
from tests.monitoring.published import (
    MONITORING_QUERY,
    RETURN_QUERY,
    Figure,
    Owner,
    from_graphql,
    from_graphql_return,
    merge,
    relations,
    unknown_complements,
    within_target,
)
from tests.monitoring.scenario import issue_quarter
from tests.monitoring.test_suppression_audit import OWNERS
from tests.support import casework as casework_support
from tests.support.api import Gateway
from tests.support.casework import Clock
from tests.support.domain import World
from tests.support.portal import StaffMember

YEAR = 2025
GRANT_MANAGER = StaffMember("opcc", ("grant-manager",), "grant-manager@portal.test", "password-of-grant-manager")
clock = casework_support.clock  # the settable clock: the casework happens in 2025
MONITORING = """
query($first: String!, $last: String!) { monitoring(firstPeriod: $first, lastPeriod: $last) {
  rows { period providerSlug providerName
    volumes { received { value suppressed } accepted { value suppressed } completed { value suppressed } }
    equality { statisticsDeclined { value suppressed }
      sex { category value suppressed } ethnicity { category value suppressed } disability { category value suppressed }
      ageBand { category value suppressed } } } } }
"""


class _Tables(HTMLParser):
    """Every table of a page: its caption and its rows of cell texts (header cells included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._caption: list[str] | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append(("", []))
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._caption is not None:
            rows = self.tables[-1][1]
            self.tables[-1] = (" ".join("".join(self._caption).split()), rows)
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1][1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        for part in (self._caption, self._cell):
            if part is not None:
                part.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return dict(parser.tables)


def table(html: str, caption_start: str) -> list[list[str]]:
    found = [rows for caption, rows in tables(html).items() if caption.startswith(caption_start)]
    assert len(found) == 1, f"no single table captioned {caption_start!r} in {list(tables(html))}"
    return found[0]


def shown(count: dict[str, Any]) -> str:
    return "Suppressed" if count["suppressed"] else f"{count['value']:,}"


@pytest.fixture
async def casework(db: AsyncSession, clock: Clock) -> World:
    """The issue's quarter, made through the services in the portal's database."""
    organisations = (await db.exec(select(Organisation))).all()
    world = World({o.slug: o for o in organisations})
    await issue_quarter(db, world, clock)
    return world


async def _monitoring(gateway: Gateway, first: str, last: str) -> list[dict[str, Any]]:
    answer = await gateway.gql("commissioner", MONITORING, {"first": first, "last": last})
    assert "errors" not in answer, answer
    rows: list[dict[str, Any]] = answer["data"]["monitoring"]["rows"]
    return rows


def _row(rows: list[dict[str, Any]], slug: str | None, period: str | None) -> dict[str, Any]:
    return next(r for r in rows if r["providerSlug"] == slug and r["period"] == period)


async def test_the_overview_shows_the_years_figures_as_the_api_gives_them(
    casework: World, gateway: Gateway, browsers: Any
) -> None:
    analyst = await browsers("commissioner")
    rows = await _monitoring(gateway, f"{YEAR}-Q1", f"{YEAR}-Q4")

    page = await analyst.get(f"/portal/commissioner/{YEAR}")

    assert page.status_code == 200
    assert "<title>Overview, financial year 2025 to 2026 - Referral gateway</title>" in page.text
    referrals = table(page.text, "Referrals and first contact")
    by_name = {line[0]: line for line in referrals[1:]}
    for row in (r for r in rows if r["period"] is None):
        line = by_name[row["providerName"]]
        assert line[1:4] == [shown(row["volumes"]["received"]), shown(row["volumes"]["accepted"]), "0"]
    # 32 referrals in Q1 and 7 in Q2: every quarter's all-provider count is shown, so the year's is too
    assert by_name["All providers"][1] == "39"
    # A provider's page links from the overview, and the navigation reaches trends and downloads
    assert f'href="/portal/commissioner/{YEAR}/providers/rj-hub"' in page.text
    assert f'href="/portal/commissioner/{YEAR}/trends"' in page.text
    assert 'href="/portal/commissioner/downloads"' in page.text


async def test_the_provider_page_hides_what_the_api_hides_and_never_shows_a_small_count(
    casework: World, gateway: Gateway, browsers: Any
) -> None:
    analyst = await browsers("commissioner")
    rows = await _monitoring(gateway, f"{YEAR}-Q1", f"{YEAR}-Q4")
    whole = _row(rows, "rj-hub", None)

    page = await analyst.get(f"/portal/commissioner/{YEAR}/providers/rj-hub")

    assert page.status_code == 200
    # The issue's three figures (2 disabled, 1 Asian, 1 male victim at a provider with six referrals) are suppressed
    disability = dict(table(page.text, "Referrals received by disability")[1:])
    ethnicity = dict(table(page.text, "Referrals received by ethnic group")[1:])
    sex = dict(table(page.text, "Referrals received by sex")[1:])
    assert (disability["Yes"], ethnicity["Asian"], sex["Male"]) == ("Suppressed",) * 3
    # And every breakdown reads exactly as the API's
    for caption, key in (("disability", "disability"), ("ethnic group", "ethnicity"), ("sex", "sex")):
        on_page = dict(table(page.text, f"Referrals received by {caption}")[1:])
        assert list(on_page.values()) == [shown(c) for c in whole["equality"][key]]
    # And no figure anywhere on the page is a count from 1 to 4
    figure_cells = [cell for rows_ in tables(page.text).values() for row in rows_[1:] for cell in row[1:]]
    assert not [c for c in figure_cells if re.fullmatch(r"[1-4]", c)]


async def test_a_trend_chart_draws_only_published_figures_and_its_table_says_the_rest_is_suppressed(
    casework: World, gateway: Gateway, browsers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = await browsers("commissioner")
    rows = await _monitoring(gateway, f"{YEAR}-Q1", f"{YEAR}-Q4")
    drawn: list[float] = []
    original_bar = Axes.bar

    def recording_bar(self: Axes, x: Any, height: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("width", 0.8) > 0:  # the legend's proxies have no width
            drawn.append(float(height))
        return original_bar(self, x, height, *args, **kwargs)

    monkeypatch.setattr(Axes, "bar", recording_bar)

    page = await analyst.get(f"/portal/commissioner/{YEAR}/trends/received")
    chart = await analyst.get(f"/portal/commissioner/{YEAR}/trends/received.svg")

    assert page.status_code == 200 and chart.status_code == 200
    # The chart is an image with a text alternative, its figures in a table beside it and a summary in words
    assert f'<img class="commissioner-chart" src="/portal/commissioner/{YEAR}/trends/received.svg"' in page.text
    assert 'alt="Bar chart of referrals received by quarter' in page.text
    assert "Referrals received, all providers, by quarter: 2025-Q1 32, 2025-Q2 7, 2025-Q3 0, 2025-Q4 0." in page.text
    figures = table(page.text, "The chart's figures")
    providers = [r for r in rows if r["period"] is not None and r["providerSlug"] is not None]
    for line in figures[1:-1]:
        api = [shown(r["volumes"]["received"]) for r in providers if r["providerName"] == line[0]]
        assert line[1:5] == api
    # The SVG is served like a page (no caching, the portal's CSP) and holds no CSS the CSP would refuse
    assert chart.headers["content-type"] == "image/svg+xml"
    assert (
        chart.headers["cache-control"] == "no-store"
        and "default-src 'self'" in chart.headers["content-security-policy"]
    )
    assert "style=" not in chart.text and "<style" not in chart.text and "<script" not in chart.text
    assert "<title>Referrals received by quarter, 2025 to 2026</title>" in chart.text
    # And the bars drawn are exactly the published figures: none for a suppressed one, whose place says [c]
    published = sorted(
        float(r["volumes"]["received"]["value"]) for r in providers if not r["volumes"]["received"]["suppressed"]
    )
    assert sorted(drawn) == published
    hidden = sum(r["volumes"]["received"]["suppressed"] for r in providers)
    assert hidden > 0 and "suppressed" in page.text.lower()


def _cli(*argv: str) -> Result:
    return CliRunner().invoke(report, list(argv))


async def test_the_downloads_are_the_same_bytes_as_the_command(
    casework: World, browsers: Any, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = await browsers("commissioner")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    listing = await analyst.get("/portal/commissioner/downloads")
    assert listing.status_code == 200

    for kind, url, argv in (
        (
            "return",
            f"/portal/commissioner/downloads/quarterly-return-{YEAR}-Q1",
            ("quarterly", "--period", f"{YEAR}-Q1"),
        ),
        (
            "monitoring",
            f"/portal/commissioner/downloads/monitoring-{YEAR}",
            ("monitoring", "--first-period", f"{YEAR}-Q1", "--last-period", f"{YEAR}-Q4"),
        ),
    ):
        for chosen in ("csv", "xlsx"):
            assert f'href="{url}.{chosen}"' in listing.text
            downloaded = await analyst.get(f"{url}.{chosen}")
            written = tmp_path / f"{kind}.{chosen}"
            ran = await asyncio.to_thread(_cli, *argv, "--format", chosen, "--output", str(written))
            assert ran.exit_code == 0, ran.output
            assert downloaded.status_code == 200
            assert downloaded.content == written.read_bytes(), f"{kind} {chosen}"
            assert downloaded.headers["cache-control"] == "no-store"
            assert "attachment" in downloaded.headers["content-disposition"]
    # And the return marks the issue's small provider's figures [c], never a number from 1 to 4
    text = (await analyst.get(f"/portal/commissioner/downloads/quarterly-return-{YEAR}-Q1.csv")).text
    lines = [line.split(",") for line in text.splitlines()]
    assert not [cell for line in lines[1:] for cell in line[4:] if cell in ("1", "2", "3", "4")]


def _commissioner_paths() -> Iterator[str]:
    yield from (
        "/portal/commissioner",
        f"/portal/commissioner/{YEAR}",
        f"/portal/commissioner/{YEAR}/trends",
        f"/portal/commissioner/{YEAR}/trends/completed.svg",
        f"/portal/commissioner/{YEAR}/providers/cpn",
        "/portal/commissioner/grants",
        "/portal/commissioner/grants/new",
        "/portal/commissioner/downloads",
        f"/portal/commissioner/downloads/quarterly-return-{YEAR}-Q1.csv",
        f"/portal/commissioner/downloads/monitoring-{YEAR}.xlsx",
    )


@pytest.mark.parametrize("who", ["coordinator", "cpn"])
async def test_hub_and_provider_staff_get_the_not_found_page_everywhere(who: str, browsers: Any) -> None:
    browser = await browsers(who)
    missing = await browser.get("/portal/commissioner/no-such-page")
    for path in _commissioner_paths():
        answer = await browser.get(path)
        assert answer.status_code == 404, path
        assert answer.text == missing.text.replace("no-such-page", "") or "Page not found" in answer.text
        assert "Commissioner's overview" not in answer.text  # not in their navigation either


async def test_a_bad_year_or_measure_or_provider_is_the_not_found_page(browsers: Any) -> None:
    analyst = await browsers("commissioner")
    for path in (
        "/portal/commissioner/1999",
        "/portal/commissioner/20255",
        f"/portal/commissioner/{YEAR}/trends/everything",
        f"/portal/commissioner/{YEAR}/providers/nobody",
        "/portal/commissioner/downloads/quarterly-return-2025-Q9.csv",
        f"/portal/commissioner/downloads/monitoring-{YEAR}.pdf",
    ):
        assert (await analyst.get(path)).status_code == 404, path


GRANT_FORM = {
    "provider": "cpn",
    "reference": "PCC-2025-CPN-01",
    "amount": "120,000",
    "first-year": "2025",
    "last-year": "2025",
    "funding-source": "pcc-core",
    "services": "Adult mental health support for victims of crime",
    "target-referrals-received-per-quarter": "40",
}


async def _grant_form(browser: Any, path: str) -> dict[str, str]:
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page.text))
    return {k: unescape(v) for k, v in hidden.items()}


async def _grants_listed(browser: Any) -> list[list[str]]:
    return table((await browser.get("/portal/commissioner/grants")).text, "1 grant")


async def test_a_grant_is_recorded_and_a_stale_edit_is_a_conflict_that_changes_nothing(browsers: Any) -> None:
    from providers.registry import get_profile

    services = get_profile("cpn")
    assert services is not None
    form = GRANT_FORM | {"services": services.services[0]}
    first = await browsers("grants")  # the grant manager records grants; the analyst only reads them

    # Recorded through the form: the list shows it
    hidden = await _grant_form(first, "/portal/commissioner/grants/new")
    created = await first.post("/portal/commissioner/grants/new", form | hidden)
    assert created.status_code == 200 and "Grant PCC-2025-CPN-01 recorded" in created.text
    [_, line] = await _grants_listed(first)
    assert line[0].startswith("PCC-2025-CPN-01") and line[2] == "£120,000.00"
    grant_path = re.search(r'href="(/portal/commissioner/grants/\d+)"', created.text)
    assert grant_path is not None

    # Two grant managers open the grant; the second saves first
    stale = await _grant_form(first, grant_path.group(1))
    second = await browsers("grants")
    fresh = await _grant_form(second, grant_path.group(1))
    saved = await second.post(grant_path.group(1), form | fresh | {"amount": "130000"})
    assert "Grant PCC-2025-CPN-01 updated" in saved.text

    # Then the first one's save, from the version it saw, is a conflict showing the latest, and changes nothing
    conflict = await first.post(grant_path.group(1), form | stale | {"amount": "999999"})
    assert conflict.status_code == 409
    assert "Someone else changed this grant while you were looking at it" in conflict.text
    assert 'value="130000.00"' in conflict.text
    [_, line] = await _grants_listed(first)
    assert line[2] == "£130,000.00"


async def test_an_invalid_grant_is_refused_at_its_fields_and_nothing_is_saved(browsers: Any) -> None:
    analyst = await browsers("grants")
    hidden = await _grant_form(analyst, "/portal/commissioner/grants/new")

    refused = await analyst.post(
        "/portal/commissioner/grants/new", GRANT_FORM | hidden | {"amount": "lots", "first-year": "next"}
    )

    assert refused.status_code == 400
    assert "There is a problem" in refused.text and 'href="#amount"' in refused.text
    assert 'href="#first-year"' in refused.text and 'value="lots"' in refused.text
    assert "<title>Error: Record a grant - Referral gateway</title>" in refused.text
    page = await analyst.get("/portal/commissioner/grants")
    assert "No grants have been recorded yet" in page.text
    # And without its CSRF token the form changes nothing either
    assert (await analyst.post("/portal/commissioner/grants/new", GRANT_FORM, csrf=False)).status_code == 403
    assert "No grants have been recorded yet" in (await analyst.get("/portal/commissioner/grants")).text


async def test_no_combination_of_the_api_answers_gives_a_suppressed_figure_away(
    casework: World, gateway: Gateway
) -> None:
    # Given the quarter of issue 18, and a reader with the commissioner's machine client
    owners = [Owner(casework.org_id(o.slug), o.slug, o.first_contact_target_hours) for o in OWNERS]
    figures: dict[Figure, int | None] = {}

    # When it asks for the quarter, the next, the half year and the quarterly return
    for first, last in ((f"{YEAR}-Q1", f"{YEAR}-Q1"), (f"{YEAR}-Q2", f"{YEAR}-Q2"), (f"{YEAR}-Q1", f"{YEAR}-Q2")):
        answer = await gateway.gql("commissioner", MONITORING_QUERY, {"first": first, "last": last})
        assert "errors" not in answer, answer
        merge(figures, from_graphql(answer["data"], owners, first_label=f"{YEAR}-Q1"))
    returned = await gateway.gql("commissioner", RETURN_QUERY, {"period": f"{YEAR}-Q1"})
    merge(figures, from_graphql_return(returned["data"], owners, 0))

    # Then the issue's three figures are suppressed, and no linear combination of everything recovers any hidden one
    small = casework.org_id("rj-hub")
    for metric, category in (("disability", "yes"), ("ethnicity", "asian"), ("sex", "male")):
        assert figures[("q", 0, metric, category, small)] is None
    periods = [(0,), (1,), (0, 1)]
    hidden = {f for f, v in figures.items() if v is None}
    found = recover(
        relations(owners, periods),
        {f: v for f, v in figures.items() if v is not None},
        hidden | unknown_complements(owners, periods) | within_target(owners, periods),
    )
    assert {f: v for f, v in found.items() if f in hidden} == {}


async def test_a_grant_manager_records_grants_and_reads_the_figures(db: AsyncSession, browsers: Any) -> None:
    await auth_service.add_user(
        db=db, organisation_slug="opcc", email=GRANT_MANAGER.email, roles=list(GRANT_MANAGER.roles),
        password=GRANT_MANAGER.password,
    )  # fmt: skip
    await db.commit()
    manager = await browsers(GRANT_MANAGER)

    assert (await manager.get(f"/portal/commissioner/{YEAR}")).status_code == 200
    new = await manager.get("/portal/commissioner/grants/new")
    assert new.status_code == 200 and "Record the grant" in new.text
