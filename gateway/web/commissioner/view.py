"""The Commissioner's figures as the pages show them: tables, series and sentences built from published counts.

Everything here starts from the monitoring service's report, whose counts are already suppressed; a figure
derived here (a sum, a rate) is hidden whenever any count it is made of is, so nothing shown, charted or
summarised can be more precise than the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gateway.monitoring.periods import Quarter
from gateway.monitoring.service import Count, MonitoringRow
from gateway.monitoring.service.figures import MonitoringReport, Rate, TargetResult
from providers.profile import MojOutcome

SUPPRESSED = "Suppressed"
OUTCOME_LABELS = {
    MojOutcome.INFORMED_AND_EMPOWERED.value: "Informed and empowered",
    MojOutcome.HEALTH_AND_WELLBEING.value: "Health and wellbeing",
    MojOutcome.COPE_AND_RECOVER.value: "Cope and recover",
    MojOutcome.FEELING_SAFER.value: "Feeling safer",
}
TARGET_LABELS = {
    "referrals-received-per-quarter": "Referrals received in the quarter",
    "cases-completed-per-quarter": "Cases completed in the quarter",
    "first-contact-within-target-share": "First contact within the provider's target time (%)",
    "informed-and-empowered-improved-share": "Informed and empowered improved (%)",
    "health-and-wellbeing-improved-share": "Health and wellbeing improved (%)",
    "cope-and-recover-improved-share": "Cope and recover improved (%)",
    "feeling-safer-improved-share": "Feeling safer improved (%)",
}
STATUS_LABELS = {"green": "Met", "amber": "Within 10%", "red": "Not met"}


def financial_year_label(year: int) -> str:
    """2025 is the financial year 2025 to 2026, 1 April 2025 to 31 March 2026."""
    return f"{year} to {year + 1}"


def quarter_label(period: str) -> str:
    """2025-Q1 as people read it: April to June 2025."""
    quarter = Quarter.parse(period)
    months = {1: "April to June", 2: "July to September", 3: "October to December", 4: "January to March"}
    year = quarter.financial_year + 1 if quarter.number == 4 else quarter.financial_year
    return f"{months[quarter.number]} {year}"


def year_periods(year: int) -> tuple[str, str]:
    return f"{year}-Q1", f"{year}-Q4"


def add(*counts: Count) -> Count:
    """The sum of published counts: hidden if any of them is, so it says nothing they do not."""
    if any(c.suppressed for c in counts):
        return Count(value=None, suppressed=True)
    return Count(value=sum(c.value or 0 for c in counts), suppressed=False)


def rate(numerator: Count, denominator: Count) -> Rate:
    if numerator.suppressed or denominator.suppressed:
        return Rate(percent=None, suppressed=True)
    if not denominator.value:
        return Rate(percent=None, suppressed=False)
    return Rate(percent=round(100 * (numerator.value or 0) / denominator.value, 1), suppressed=False)


def within_48_hours(row: MonitoringRow) -> Count:
    return add(row.first_contact.within_24_hours, row.first_contact.from_24_to_48_hours)


class Trend(StrEnum):
    """The measures the trends page charts, by quarter: counts, never rates, so a hidden one is plainly hidden."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    FIRST_CONTACT_WITHIN_48_HOURS = "first-contact-within-48-hours"
    INFORMED_AND_EMPOWERED = "informed-and-empowered"
    HEALTH_AND_WELLBEING = "health-and-wellbeing"
    COPE_AND_RECOVER = "cope-and-recover"
    FEELING_SAFER = "feeling-safer"


TREND_LABELS = {
    Trend.RECEIVED: "Referrals received",
    Trend.ACCEPTED: "Referrals accepted",
    Trend.COMPLETED: "Cases completed",
    Trend.FIRST_CONTACT_WITHIN_48_HOURS: "First contacts within 48 hours",
    Trend.INFORMED_AND_EMPOWERED: "Completed cases improved: informed and empowered",
    Trend.HEALTH_AND_WELLBEING: "Completed cases improved: health and wellbeing",
    Trend.COPE_AND_RECOVER: "Completed cases improved: cope and recover",
    Trend.FEELING_SAFER: "Completed cases improved: feeling safer",
}


def trend_count(row: MonitoringRow, trend: Trend) -> Count:
    if trend is Trend.RECEIVED:
        return row.volumes.received
    if trend is Trend.ACCEPTED:
        return row.volumes.accepted
    if trend is Trend.COMPLETED:
        return row.volumes.completed
    if trend is Trend.FIRST_CONTACT_WITHIN_48_HOURS:
        return within_48_hours(row)
    return next(o.improved for o in row.outcomes if o.measure == trend.value)


@dataclass(frozen=True)
class Series:
    """One provider's (or all providers') counts for each quarter, and the whole year."""

    slug: str | None
    name: str
    counts: tuple[Count, ...]
    year: Count


@dataclass(frozen=True)
class TrendView:
    trend: Trend
    label: str
    periods: tuple[str, ...]
    providers: tuple[Series, ...]
    total: Series
    summary: tuple[str, ...]

    @property
    def suppressed(self) -> int:
        return sum(c.suppressed for s in (*self.providers, self.total) for c in (*s.counts, s.year))


def rows_for(report: MonitoringReport, slug: str | None) -> dict[str | None, MonitoringRow]:
    """One provider's (None: all providers') rows by period (None: the whole range)."""
    return {row.period: row for row in report.rows if row.provider_slug == slug}


def provider_slugs(report: MonitoringReport) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for row in report.rows:
        if row.provider_slug is not None:
            seen.setdefault(row.provider_slug, row.provider_name)
    return list(seen.items())


def _shown(count: Count) -> str:
    return SUPPRESSED.lower() if count.suppressed else f"{count.value:,}"


def trend_view(report: MonitoringReport, trend: Trend) -> TrendView:
    def series(slug: str | None, name: str) -> Series:
        rows = rows_for(report, slug)
        year_row = rows.get(None) if len(report.periods) > 1 else rows[report.periods[0]]
        assert year_row is not None
        return Series(
            slug=slug,
            name=name,
            counts=tuple(trend_count(rows[p], trend) for p in report.periods),
            year=trend_count(year_row, trend),
        )

    providers = tuple(series(slug, name) for slug, name in provider_slugs(report))
    total = series(None, "All providers")
    return TrendView(
        trend=trend,
        label=TREND_LABELS[trend],
        periods=report.periods,
        providers=providers,
        total=total,
        summary=_summary(TREND_LABELS[trend], report.periods, providers, total),
    )


def _summary(label: str, periods: Sequence[str], providers: Sequence[Series], total: Series) -> tuple[str, ...]:
    """What the chart shows, in words, from the published figures only."""
    quarters = ", ".join(f"{p} {_shown(c)}" for p, c in zip(periods, total.counts, strict=True))
    lines = [f"{label}, all providers, by quarter: {quarters}. The whole year: {_shown(total.year)}."]
    shown = [(s, s.year.value) for s in providers if s.year.value is not None and not s.year.suppressed]
    if shown:
        leader, most = max(shown, key=lambda pair: pair[1] or 0)
        if most:
            lines.append(f"The largest whole-year figure among the providers is {leader.name}'s, {most:,}.")
    hidden = sum(c.suppressed for s in (*providers, total) for c in (*s.counts, s.year))
    if hidden:
        lines.append(
            f"{hidden} figure{'' if hidden == 1 else 's'} in this chart "
            f"{'is' if hidden == 1 else 'are'} suppressed: small numbers are not shown, and neither is any figure "
            "that would let them be worked out. The chart draws nothing for them and marks them [c]."
        )
    return tuple(lines)


@dataclass(frozen=True)
class OverviewLine:
    """One provider's (or all providers') year, as the overview table shows it."""

    slug: str | None
    name: str
    row: MonitoringRow
    within_24: Count
    within_24_rate: Rate
    within_48: Count
    within_48_rate: Rate
    closed: Count


def overview_lines(report: MonitoringReport) -> list[OverviewLine]:
    lines = []
    whole = None if len(report.periods) > 1 else report.periods[0]
    for row in report.rows:
        if row.period != whole:
            continue
        contacts = row.first_contact.total
        within_48 = within_48_hours(row)
        lines.append(
            OverviewLine(
                slug=row.provider_slug,
                name=row.provider_name,
                row=row,
                within_24=row.first_contact.within_24_hours,
                within_24_rate=row.first_contact.within_24_hours_rate,
                within_48=within_48,
                within_48_rate=rate(within_48, contacts),
                closed=add(row.volumes.rejected, row.volumes.cancelled, row.volumes.completed, row.volumes.failed),
            )
        )
    return lines


@dataclass(frozen=True)
class TargetLine:
    provider_name: str
    period: str
    result: TargetResult

    @property
    def measure_label(self) -> str:
        return TARGET_LABELS.get(self.result.measure, self.result.measure)

    @property
    def status_label(self) -> str:
        if self.result.suppressed:
            return SUPPRESSED
        return STATUS_LABELS.get(self.result.status or "", "Nothing to measure")


def target_lines(report: MonitoringReport, slug: str | None = None) -> list[TargetLine]:
    return [
        TargetLine(provider_name=row.provider_name, period=row.period or "", result=result)
        for row in report.rows
        if row.period is not None and row.provider_slug is not None and (slug is None or row.provider_slug == slug)
        for result in row.targets
    ]


_CATEGORY_WORDS = {
    "prefer-not-to-say": "Prefer not to say",
    "not-asked": "Not asked",
    "unrecognised": "Not a listed answer",
    "under-18": "Under 18",
    "65-plus": "65 and over",
    "within-24-hours": "Within 24 hours",
    "24-to-48-hours": "24 to 48 hours",
    "over-48-hours": "Over 48 hours",
}


def category_label(code: str) -> str:
    """A category code as a heading: age bands stay as they are (18-24), other codes read as words."""
    if code in _CATEGORY_WORDS:
        return _CATEGORY_WORDS[code]
    if code[:1].isdigit():
        return code.replace("-", " to ")
    return code.replace("-", " ").capitalize()
