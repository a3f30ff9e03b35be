"""No suppressed figure can be worked out from what is published, by any linear combination of it (issue 18).

The reader is tests/monitoring/attacker.py: exact elimination over every sum listed in tests/monitoring/published.py,
across a quarter, its ranges, overlapping ranges asked for separately, and the quarterly return together.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook  # type: ignore[import-untyped]

from gateway.db import AsyncSession
from gateway.monitoring.export import SUPPRESSED_MARK, render_csv, render_xlsx
from gateway.monitoring.service import monitoring_report, quarterly_return
from gateway.monitoring.service.cells import CATEGORIES, EQUALITY_CATEGORIES, Cell, ContactBand, Metric
from gateway.monitoring.service.margins import complete_cells, quarter_sums, suppress_cells
from gateway.monitoring.service.monitored import ProviderRef
from gateway.monitoring.suppression import DEFAULT_THRESHOLD, Sum, exposed, primary, protect
from providers.profile import MojOutcome
from tests.monitoring.attacker import recover
from tests.monitoring.published import (
    Figure,
    Owner,
    from_cells,
    from_report,
    from_return,
    merge,
    relations,
    unknown_complements,
    within_target,
)
from tests.monitoring.scenario import SCENARIO, issue_quarter
from tests.support.casework import Clock, commissioner
from tests.support.domain import World

OWNERS = (
    Owner(1, "cpn", 48),
    Owner(2, "family-action", 48),
    Owner(3, "rape-crisis", 48),
    Owner(4, "rj-hub", 72),
    Owner(5, "road-victims-trust", 24),
)
PROVIDERS = [ProviderRef(o.id, o.slug, o.slug, o.first_contact_target_hours, ()) for o in OWNERS]

SMALL_PROVIDER = 4  # the RJ hub, with six referrals
ISSUE_LEAKS = {
    "disability": (Metric.DISABILITY.value, "yes", 2),
    "ethnicity": (Metric.ETHNICITY.value, "asian", 1),
    "sex": (Metric.SEX.value, "male", 1),
}


def _scenario_cells() -> dict[Cell, int]:
    cells: dict[Cell, int] = {}
    ids = {o.slug: o.id for o in OWNERS}

    def add(metric: Metric, category: str, provider: int) -> None:
        key = Cell(metric.value, category, provider, 0)
        cells[key] = cells.get(key, 0) + 1

    for slug, victims in SCENARIO.items():
        for declined, age, sex, ethnicity, disability in victims:
            add(Metric.RECEIVED, "", ids[slug])
            if declined:
                add(Metric.STATISTICS_DECLINED, "", ids[slug])
            else:
                for metric, category in (
                    (Metric.AGE_BAND, age),
                    (Metric.SEX, sex),
                    (Metric.ETHNICITY, ethnicity),
                    (Metric.DISABILITY, disability),
                ):
                    add(metric, category, ids[slug])
    complete_cells(cells, [o.id for o in OWNERS], 1)
    return cells


def _recovered(figures: dict[Figure, int | None], periods: Sequence[tuple[int, ...]]) -> dict[Figure, Any]:
    """Every suppressed figure the published ones give away, with its value: empty when suppression holds."""
    hidden = {f for f, v in figures.items() if v is None}
    complements = unknown_complements(OWNERS, periods)
    published = {f: v for f, v in figures.items() if v is not None}
    found = recover(relations(OWNERS, periods), published, hidden | complements)
    return {f: v for f, v in found.items() if f in hidden}


def _hide_two_per_sum(cells: dict[Cell, int], sums: Sequence[Sum[Cell]], hidden: set[Cell]) -> set[Cell]:
    """The rule issue 18 broke, kept here only to show the reader recovering its hidden figures."""
    hidden = set(hidden)
    changed = True
    while changed:
        changed = False
        for relation in sums:
            members = [m for m in relation.members if m in cells]
            if sum(1 for m in members if m in hidden) != 1:
                continue
            candidates = [m for m in members if m not in hidden and cells[m] > 0]
            if candidates:
                hidden.add(min(candidates, key=lambda m: (cells[m], m == relation.total)))
                changed = True
    return hidden


def test_the_old_rule_lets_a_reader_recover_the_three_figures_of_issue_18() -> None:
    # Given the issue's quarter suppressed the old way: every sum hides none or at least two members
    cells = _scenario_cells()
    old = _hide_two_per_sum(cells, quarter_sums(PROVIDERS, 0), primary(cells, threshold=DEFAULT_THRESHOLD))

    # When a reader solves the published sums exactly
    found = _recovered(from_cells(cells, old, first=0, last=0), [(0,)])

    # Then the RJ hub's disabled, Asian and male victims are worked out: the leak the new audit closes
    for metric, category, value in ISSUE_LEAKS.values():
        assert found[("q", 0, metric, category, SMALL_PROVIDER)] == value


@pytest.mark.parametrize("leak", sorted(ISSUE_LEAKS))
def test_the_audit_closes_each_leak_of_issue_18(leak: str) -> None:
    metric, category, value = ISSUE_LEAKS[leak]
    cells = _scenario_cells()
    cell = Cell(metric, category, SMALL_PROVIDER, 0)
    assert cells[cell] == value

    hidden = suppress_cells(cells, PROVIDERS, 1, threshold=DEFAULT_THRESHOLD)

    # The figure is suppressed, and no combination of the published figures gives it (or any other) back
    assert cell in hidden
    assert _recovered(from_cells(cells, hidden, first=0, last=0), [(0,)]) == {}


def test_the_production_audit_agrees_with_exact_elimination_on_the_old_suppression() -> None:
    # The numpy decision and the exact one find the same exposed cells where there are some to find
    cells = _scenario_cells()
    sums = quarter_sums(PROVIDERS, 0)
    old = _hide_two_per_sum(cells, sums, primary(cells, threshold=DEFAULT_THRESHOLD))
    complements = {k for k in cells if k.metric == Metric.NOT_IMPROVED_OR_OTHER}
    by_numpy = exposed(sums, old, unpublished=complements)
    by_fractions = _recovered(from_cells(cells, old, first=0, last=0), [(0,)])
    assert {("q", c.quarter, c.metric, c.category, c.provider) for c in by_numpy} == set(by_fractions)
    assert by_numpy  # the old rule leaves something to find


def test_protect_hides_a_companion_in_a_sum_and_never_a_zero_while_another_is_left() -> None:
    cells = {"total": 48, "small": 3, "zero": 0, "twenty": 20, "twenty-five": 25}
    sums = [Sum("total", ("small", "zero", "twenty", "twenty-five"))]

    assert protect(cells, sums, {"small"}) == {"small", "twenty"}


def test_protect_leaves_no_hidden_cell_of_a_table_with_totals_both_ways_fixed() -> None:
    # Given a 2x3 table with margins and two small cells on a diagonal
    #          x    y    z | all
    #   p      3   10    7 |  20
    #   q     12    4    9 |  25
    #   all   15   14   16 |  45
    cells = {
        ("p", "x"): 3, ("p", "y"): 10, ("p", "z"): 7, ("p", None): 20,
        ("q", "x"): 12, ("q", "y"): 4, ("q", "z"): 9, ("q", None): 25,
        (None, "x"): 15, (None, "y"): 14, (None, "z"): 16, (None, None): 45,
    }  # fmt: skip
    sums = [
        *(Sum((r, None), ((r, "x"), (r, "y"), (r, "z"))) for r in ("p", "q", None)),
        *(Sum((None, c), (("p", c), ("q", c))) for c in ("x", "y", "z", None)),
    ]

    hidden = protect(cells, sums, primary(cells, threshold=4))

    # Then the two small cells are hidden with companions, and neither the audit nor exact elimination (with
    # the table's cells as the reader's unknowns) can fix any hidden cell
    assert {("p", "x"), ("q", "y")} < hidden
    assert exposed(sums, hidden) == set()
    published = {k: v for k, v in cells.items() if k not in hidden}
    equations = [{s.total: 1, **dict.fromkeys(s.parts, -1)} for s in sums]
    assert recover(equations, published, hidden) == {}


def _random_quarters(rng: random.Random, quarter_count: int, spread: int) -> dict[Cell, int]:
    """Consistent figures for every provider and quarter, most of them small: every published sum adds up."""
    cells: dict[Cell, int] = {}

    def small() -> int:
        return rng.choice([0, 0, 0, 1, 2, 3, 4, 5, rng.randint(0, spread)])

    def split(total: int, categories: Sequence[str]) -> list[int]:
        shares = [0] * len(categories)
        for _ in range(total):
            shares[min(int(rng.random() ** 2 * len(categories)), len(categories) - 1)] += 1
        rng.shuffle(shares)
        return shares

    for owner in OWNERS:
        for q in range(quarter_count):

            def put(metric: Metric, category: str, value: int, p: int = owner.id, q: int = q) -> None:
                if value:
                    cells[Cell(metric.value, category, p, q)] = value

            declined, consenting = small(), small() + rng.randint(0, spread)
            put(Metric.RECEIVED, "", declined + consenting)
            put(Metric.STATISTICS_DECLINED, "", declined)
            for metric, categories in EQUALITY_CATEGORIES.items():
                for category, n in zip(categories, split(consenting, categories), strict=True):
                    put(metric, category, n)
            for total, by_reason in (
                (Metric.REJECTED, Metric.REJECTED_BY_REASON),
                (Metric.CANCELLED, Metric.CANCELLED_BY_REASON),
            ):
                shares = split(small(), CATEGORIES[by_reason])
                put(total, "", sum(shares))
                for category, n in zip(CATEGORIES[by_reason], shares, strict=True):
                    put(by_reason, category, n)
            bands = [small() for _ in ContactBand]
            put(Metric.FIRST_CONTACTS, "", sum(bands))
            for band, n in zip(ContactBand, bands, strict=True):
                put(Metric.FIRST_CONTACT_BAND, band.value, n)
            within = {24: bands[0], 48: bands[0] + bands[1]}.get(owner.first_contact_target_hours, sum(bands))
            put(Metric.FIRST_CONTACT_WITHIN_TARGET, "", within)
            completed = small() + rng.randint(0, spread)
            put(Metric.COMPLETED, "", completed)
            for measure in MojOutcome:
                put(Metric.IMPROVED, measure.value, rng.randint(0, completed))
            for metric in (Metric.ACCEPTED, Metric.FAILED, Metric.IN_PROGRESS):
                put(metric, "", small())
    return cells


def _window(cells: dict[Cell, int], first: int, last: int) -> dict[Cell, int]:
    """What the service counts when asked for quarters first..last: the same quarters, numbered from 0."""
    found = {
        k._replace(quarter=(k.quarter or 0) - first): v for k, v in cells.items() if first <= (k.quarter or 0) <= last
    }
    complete_cells(found, [o.id for o in OWNERS], last - first + 1)
    return found


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), quarter_count=st.integers(1, 3), spread=st.sampled_from([2, 6, 15, 40]))
def test_every_range_asked_for_together_gives_no_suppressed_figure_away(
    seed: int, quarter_count: int, spread: int
) -> None:
    # Given quarters with many small counts, asked for alone and in every range they form, by one reader
    raw = _random_quarters(random.Random(seed), quarter_count, spread)
    figures: dict[Figure, int | None] = {}
    periods: list[tuple[int, ...]] = []
    for first in range(quarter_count):
        for last in range(first, quarter_count):
            cells = _window(raw, first, last)
            hidden = suppress_cells(cells, PROVIDERS, last - first + 1, threshold=DEFAULT_THRESHOLD)
            # a quarter reads the same alone and in every range (merge checks), and nothing from 1 to 4 shows
            merge(figures, from_cells(cells, hidden, first=first, last=last))
            periods.append((first,) if first == last else (first, last))
    periods += [(q,) for q in range(quarter_count)]
    assert [v for v in figures.values() if v is not None and 1 <= v <= DEFAULT_THRESHOLD] == []

    # Then every linear combination of all of it recovers no suppressed figure
    assert _recovered(figures, sorted(set(periods))) == {}


# -- through the service, its return and both downloads, on both databases ------------------------------------


def _owners(world: World) -> list[Owner]:
    return [Owner(world.org_id(o.slug), o.slug, o.first_contact_target_hours) for o in OWNERS]


def _csv_figures(text: str, owners: Sequence[Owner], quarter: int) -> dict[Figure, int | None]:
    header, *lines = list(csv.reader(io.StringIO(text)))
    return _table_figures(header, lines, owners, quarter)


def _table_figures(
    header: Sequence[Any], lines: Sequence[Sequence[Any]], owners: Sequence[Owner], quarter: int
) -> dict[Figure, int | None]:
    ids: dict[str, int | None] = {o.slug: o.id for o in owners} | {"total": None}
    columns = {
        "referred": (Metric.RECEIVED.value, ""),
        "supported": (Metric.COMPLETED.value, ""),
        **{f"improved_{m.value}": (Metric.IMPROVED.value, m.value) for m in MojOutcome},
    }
    found: dict[Figure, int | None] = {}
    for line in lines:
        row = dict(zip(header, line, strict=True))
        for column, (metric, category) in columns.items():
            value = row[column]
            found[("q", quarter, metric, category, ids[str(row["provider"])])] = (
                None if value == SUPPRESSED_MARK else int(value)
            )
    return found


async def test_the_report_the_return_and_both_downloads_give_nothing_away(
    db: AsyncSession, world: World, clock: Clock
) -> None:
    # Given the issue's quarter, made through the services
    await issue_quarter(db, world, clock)
    owners = _owners(world)
    small_provider = world.org_id("rj-hub")

    # When the Commissioner reads the quarter, the half year, the quarter's return, its CSV and its workbook
    quarter = await monitoring_report(db=db, actor=commissioner(world), first_period="2025-Q1", last_period="2025-Q1")
    half = await monitoring_report(db=db, actor=commissioner(world), first_period="2025-Q1", last_period="2025-Q2")
    q2 = await monitoring_report(db=db, actor=commissioner(world), first_period="2025-Q2", last_period="2025-Q2")
    returned = await quarterly_return(db=db, actor=commissioner(world), period="2025-Q1")
    figures: dict[Figure, int | None] = {}
    for report in (quarter, half, q2):
        merge(figures, from_report(report, owners, first_label="2025-Q1"))
    from_return(figures, returned, owners, 0)
    merge(figures, _csv_figures(render_csv(returned), owners, 0))
    sheet = load_workbook(io.BytesIO(render_xlsx(returned)), read_only=True).worksheets[0]
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    merge(figures, _table_figures(header, rows, owners, 0))

    # Then the issue's three figures are suppressed everywhere, and nothing suppressed can be worked out
    for metric, category, _ in ISSUE_LEAKS.values():
        assert figures[("q", 0, metric, category, small_provider)] is None
    assert figures[("q", 0, Metric.RECEIVED.value, "", None)] == 32
    assert [v for v in figures.values() if v is not None and 1 <= v <= DEFAULT_THRESHOLD] == []
    found = recover(
        relations(owners, [(0,), (1,), (0, 1)]),
        {f: v for f, v in figures.items() if v is not None},
        {f for f, v in figures.items() if v is None}
        | unknown_complements(owners, [(0,), (1,), (0, 1)])
        | within_target(owners, [(0,), (1,), (0, 1)]),
    )
    assert {f: v for f, v in found.items() if f in figures and figures[f] is None} == {}
