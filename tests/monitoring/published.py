"""What a reader of the Commissioner's figures holds: every published figure and every sum that ties them.

Written apart from gateway.monitoring.service.margins on purpose: the sums a reader can use are listed here
from the README and the report's shape, so a sum the production audit forgot would still be tried here.
A figure's key is ("q", quarter, metric, category, provider) for a quarter (quarter counted from the first one
asked about in the test) and ("r", first, last, metric, category, provider) for a whole-range figure.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.monitoring.service import MonitoringRow
from gateway.monitoring.service.cells import CATEGORIES, EQUALITY_CATEGORIES, Cell, ContactBand, Metric
from gateway.monitoring.service.figures import Count, MonitoringReport, QuarterlyReturn
from providers.profile import MojOutcome

Figure = tuple[Hashable, ...]
Equation = dict[Figure, int]
NEVER_SHOWN = Metric.NOT_IMPROVED_OR_OTHER.value


@dataclass(frozen=True)
class Owner:
    """A provider as the tests know it (None id: all providers)."""

    id: int
    slug: str
    first_contact_target_hours: int


def _metric_categories() -> list[tuple[str, str]]:
    return [(m.value, c) for m in Metric for c in CATEGORIES.get(m, ("",))]


def period_figure(period: tuple[int, ...], metric: str, category: str, provider: int | None) -> Figure:
    """A quarter's figure for period (q,), a whole range's for period (first, last)."""
    return (
        ("q", period[0], metric, category, provider) if len(period) == 1 else ("r", *period, metric, category, provider)
    )


def relations(owners: Sequence[Owner], periods: Iterable[tuple[int, ...]]) -> list[Equation]:
    """Every sum a reader can write down for these periods, as coefficients that add up to zero."""
    equations: list[Equation] = []
    ids = [o.id for o in owners]

    def add(total: Figure, parts: Iterable[Figure]) -> None:
        equation: Equation = {total: 1}
        for part in parts:
            equation[part] = equation.get(part, 0) - 1
        equations.append(equation)

    for period in periods:

        def f(metric: Metric, category: str = "", p: int | None = None, period: tuple[int, ...] = period) -> Figure:
            return period_figure(period, metric.value, category, p)

        for owner in [*owners, None]:
            p = owner.id if owner is not None else None
            add(
                f(Metric.REJECTED, p=p),
                [f(Metric.REJECTED_BY_REASON, c, p) for c in CATEGORIES[Metric.REJECTED_BY_REASON]],
            )
            add(
                f(Metric.CANCELLED, p=p),
                [f(Metric.CANCELLED_BY_REASON, c, p) for c in CATEGORIES[Metric.CANCELLED_BY_REASON]],
            )
            bands = [f(Metric.FIRST_CONTACT_BAND, b.value, p) for b in ContactBand]
            add(f(Metric.FIRST_CONTACTS, p=p), bands)
            for metric, categories in EQUALITY_CATEGORIES.items():
                add(
                    f(Metric.RECEIVED, p=p),
                    [*(f(metric, c, p) for c in categories), f(Metric.STATISTICS_DECLINED, p=p)],
                )
            for measure in MojOutcome:
                add(
                    f(Metric.COMPLETED, p=p),
                    [f(Metric.IMPROVED, measure.value, p), f(Metric.NOT_IMPROVED_OR_OTHER, measure.value, p)],
                )
            if owner is not None and owner.first_contact_target_hours in (24, 48):
                add(f(Metric.FIRST_CONTACT_WITHIN_TARGET, p=p), bands[: owner.first_contact_target_hours // 24])
        for code, category in _metric_categories():
            add(period_figure(period, code, category, None), [period_figure(period, code, category, i) for i in ids])
        if len(period) == 2:
            first, last = period
            for code, category in _metric_categories():
                for p in [*ids, None]:
                    quarters = [last] if code == Metric.IN_PROGRESS.value else range(first, last + 1)
                    add(
                        period_figure(period, code, category, p),
                        [period_figure((q,), code, category, p) for q in quarters],
                    )
    return equations


def unknown_complements(owners: Sequence[Owner], periods: Iterable[tuple[int, ...]]) -> set[Figure]:
    """Completed minus improved: never shown, so always an unknown to the reader."""
    return {
        period_figure(period, NEVER_SHOWN, m.value, p)
        for period in periods
        for m in MojOutcome
        for p in [*(o.id for o in owners), None]
    }


def within_target(owners: Sequence[Owner], periods: Iterable[tuple[int, ...]]) -> set[Figure]:
    """First contacts within the provider's target: shown only as a target's actual, so unknown without grants."""
    return {
        period_figure(period, Metric.FIRST_CONTACT_WITHIN_TARGET.value, "", p)
        for period in periods
        for p in [*(o.id for o in owners), None]
    }


def from_cells(cells: Mapping[Cell, int], hidden: set[Cell], *, first: int, last: int) -> dict[Figure, int | None]:
    """The figures a report for quarters first..last publishes, from the service's cells (None: suppressed)."""
    found: dict[Figure, int | None] = {}
    for cell, value in cells.items():
        if cell.metric == NEVER_SHOWN:
            continue
        period = (first + cell.quarter,) if cell.quarter is not None else (first, last)
        found[period_figure(period, cell.metric, cell.category, cell.provider)] = None if cell in hidden else value
    return found


def _put(found: dict[Figure, int | None], figure: Figure, count: Count) -> None:
    assert count.suppressed == (count.value is None)
    found[figure] = count.value


def from_report(report: MonitoringReport, owners: Sequence[Owner], *, first_label: str) -> dict[Figure, int | None]:
    """The figures a monitoring report publishes, read back from its rows as a reader would."""
    ids = {o.slug: o.id for o in owners}
    labels = _labels(first_label, len(report.periods) + 12)
    found: dict[Figure, int | None] = {}
    start, end = labels.index(report.first_period), labels.index(report.last_period)
    for row in report.rows:
        period = (labels.index(row.period),) if row.period is not None else (start, end)
        _row_figures(found, row, period, ids[row.provider_slug] if row.provider_slug is not None else None)
    return found


def _row_figures(found: dict[Figure, int | None], row: MonitoringRow, period: tuple[int, ...], p: int | None) -> None:
    def put(metric: Metric, count: Count, category: str = "") -> None:
        _put(found, period_figure(period, metric.value, category, p), count)

    v = row.volumes
    for metric, count in (
        (Metric.RECEIVED, v.received),
        (Metric.ACCEPTED, v.accepted),
        (Metric.REJECTED, v.rejected),
        (Metric.CANCELLED, v.cancelled),
        (Metric.IN_PROGRESS, v.in_progress),
        (Metric.COMPLETED, v.completed),
        (Metric.FAILED, v.failed),
        (Metric.FIRST_CONTACTS, row.first_contact.total),
        (Metric.STATISTICS_DECLINED, row.equality.statistics_declined),
    ):
        put(metric, count)
    for item in v.rejected_by_reason:
        put(Metric.REJECTED_BY_REASON, item.count, item.category)
    for item in v.cancelled_by_reason:
        put(Metric.CANCELLED_BY_REASON, item.count, item.category)
    fc = row.first_contact
    for band, count in (
        (ContactBand.WITHIN_24_HOURS, fc.within_24_hours),
        (ContactBand.FROM_24_TO_48_HOURS, fc.from_24_to_48_hours),
        (ContactBand.OVER_48_HOURS, fc.over_48_hours),
    ):
        put(Metric.FIRST_CONTACT_BAND, count, band.value)
    for outcome in row.outcomes:
        put(Metric.IMPROVED, outcome.improved, outcome.measure)
    for metric, items in (
        (Metric.AGE_BAND, row.equality.age_band),
        (Metric.SEX, row.equality.sex),
        (Metric.ETHNICITY, row.equality.ethnicity),
        (Metric.DISABILITY, row.equality.disability),
    ):
        for item in items:
            put(metric, item.count, item.category)


def from_return(
    found: dict[Figure, int | None], returned: QuarterlyReturn, owners: Sequence[Owner], quarter: int
) -> None:
    """Adds what a quarterly return publishes: referred, supported and improved per measure, per provider."""
    ids = {o.slug: o.id for o in owners}
    for line in returned.lines:
        p = ids[line.provider_slug] if line.provider_slug is not None else None
        _put(found, period_figure((quarter,), Metric.RECEIVED.value, "", p), line.referred)
        _put(found, period_figure((quarter,), Metric.COMPLETED.value, "", p), line.supported)
        for item in line.improved:
            _put(found, period_figure((quarter,), Metric.IMPROVED.value, item.category, p), item.count)


def _labels(first: str, count: int) -> list[str]:
    year, number = int(first[:4]), int(first[-1])
    labels = []
    for _ in range(count):
        labels.append(f"{year}-Q{number}")
        year, number = (year + 1, 1) if number == 4 else (year, number + 1)
    return labels


def merge(into: dict[Figure, int | None], figures: Mapping[Figure, int | None]) -> None:
    """Adds a publication's figures; the same figure must read the same in every publication."""
    for figure, value in figures.items():
        if figure in into:
            assert into[figure] == value, f"{figure} reads {into[figure]} in one publication and {value} in another"
        into[figure] = value


# -- the same, read from the GraphQL API's JSON ------------------------------------------------------------------

MONITORING_QUERY = """
query($first: String!, $last: String!) { monitoring(firstPeriod: $first, lastPeriod: $last) {
  firstPeriod lastPeriod
  rows { period providerSlug
    volumes { received { ...c } accepted { ...c } rejected { ...c } rejectedByReason { ...cc }
      cancelled { ...c } cancelledByReason { ...cc } inProgress { ...c } completed { ...c } failed { ...c } }
    firstContact { total { ...c } within24Hours { ...c } from24To48Hours { ...c } over48Hours { ...c } }
    outcomes { measure improved { ...c } }
    equality { statisticsDeclined { ...c } ageBand { ...cc } sex { ...cc } ethnicity { ...cc } disability { ...cc } }
  } } }
fragment c on Count { value suppressed }
fragment cc on CategoryCount { category value suppressed }
"""
RETURN_QUERY = """
query($period: String!) { quarterlyReturn(period: $period) {
  lines { providerSlug referred { value suppressed } supported { value suppressed }
          improved { category value suppressed } } } }
"""


def _json_count(found: dict[Figure, int | None], figure: Figure, count: dict[str, object]) -> None:
    assert bool(count["suppressed"]) == (count["value"] is None)
    value = count["value"]
    found[figure] = value if isinstance(value, int) else None


def from_graphql(answer: dict[str, object], owners: Sequence[Owner], *, first_label: str) -> dict[Figure, int | None]:
    """The figures of a `monitoring` answer, as from_report reads a service report."""
    data = answer["monitoring"]
    assert isinstance(data, dict)
    ids = {o.slug: o.id for o in owners}
    labels = _labels(first_label, 24)
    start, end = labels.index(data["firstPeriod"]), labels.index(data["lastPeriod"])
    found: dict[Figure, int | None] = {}
    for row in data["rows"]:
        period = (labels.index(row["period"]),) if row["period"] is not None else (start, end)
        p = ids[row["providerSlug"]] if row["providerSlug"] is not None else None

        def put(
            metric: Metric,
            count: dict[str, object],
            category: str = "",
            p: int | None = p,
            period: tuple[int, ...] = period,
        ) -> None:
            _json_count(found, period_figure(period, metric.value, category, p), count)

        volumes, contact, equality = row["volumes"], row["firstContact"], row["equality"]
        for metric, key in (
            (Metric.RECEIVED, "received"),
            (Metric.ACCEPTED, "accepted"),
            (Metric.REJECTED, "rejected"),
            (Metric.CANCELLED, "cancelled"),
            (Metric.IN_PROGRESS, "inProgress"),
            (Metric.COMPLETED, "completed"),
            (Metric.FAILED, "failed"),
        ):
            put(metric, volumes[key])
        for metric, key in (
            (Metric.REJECTED_BY_REASON, "rejectedByReason"),
            (Metric.CANCELLED_BY_REASON, "cancelledByReason"),
        ):
            for item in volumes[key]:
                put(metric, item, item["category"])
        put(Metric.FIRST_CONTACTS, contact["total"])
        for band, key in (
            (ContactBand.WITHIN_24_HOURS, "within24Hours"),
            (ContactBand.FROM_24_TO_48_HOURS, "from24To48Hours"),
            (ContactBand.OVER_48_HOURS, "over48Hours"),
        ):
            put(Metric.FIRST_CONTACT_BAND, contact[key], band.value)
        for outcome in row["outcomes"]:
            put(Metric.IMPROVED, outcome["improved"], outcome["measure"].lower().replace("_", "-"))
        put(Metric.STATISTICS_DECLINED, equality["statisticsDeclined"])
        for metric, key in (
            (Metric.AGE_BAND, "ageBand"),
            (Metric.SEX, "sex"),
            (Metric.ETHNICITY, "ethnicity"),
            (Metric.DISABILITY, "disability"),
        ):
            for item in equality[key]:
                put(metric, item, item["category"])
    return found


def from_graphql_return(answer: dict[str, object], owners: Sequence[Owner], quarter: int) -> dict[Figure, int | None]:
    data = answer["quarterlyReturn"]
    assert isinstance(data, dict)
    ids = {o.slug: o.id for o in owners}
    found: dict[Figure, int | None] = {}
    for line in data["lines"]:
        p = ids[line["providerSlug"]] if line["providerSlug"] is not None else None
        _json_count(found, period_figure((quarter,), Metric.RECEIVED.value, "", p), line["referred"])
        _json_count(found, period_figure((quarter,), Metric.COMPLETED.value, "", p), line["supported"])
        for item in line["improved"]:
            _json_count(found, period_figure((quarter,), Metric.IMPROVED.value, item["category"], p), item)
    return found
