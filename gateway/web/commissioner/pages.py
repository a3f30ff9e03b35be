"""The Commissioner's office's reading pages: the year's overview, trends with charts, one provider, downloads.

Every figure comes from the monitoring service with the signed-in person's principal, so the pages show
exactly what the API would, suppressed the same way; nothing here counts anything itself.
"""

from __future__ import annotations

import re

from starlette.responses import Response

from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import ValidationFailed
from gateway.grants import service as grants_service
from gateway.grants.models import Grant, GrantTarget
from gateway.monitoring.export import render_csv, render_monitoring_csv, render_monitoring_xlsx, render_xlsx
from gateway.monitoring.periods import Quarter, quarter_containing
from gateway.monitoring.service import monitoring_report, quarterly_return
from gateway.monitoring.service.figures import MonitoringReport
from gateway.web.commissioner import view
from gateway.web.commissioner.charts import trend_chart
from gateway.web.security import PAGE_HEADERS
from gateway.web.visit import NotFoundPage, Visit

BASE = "/portal/commissioner"
EARLIEST_YEAR, LATEST_YEAR = 2000, 2099
_YEAR = re.compile(r"^\d{4}$")
_SLUG = re.compile(r"^[a-z0-9-]{1,60}$")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def current_year() -> int:
    return quarter_containing(utc_now()).financial_year


def _year(visit: Visit) -> int:
    raw = str(visit.request.path_params.get("year", ""))
    if not _YEAR.match(raw) or not EARLIEST_YEAR <= int(raw) <= LATEST_YEAR:
        raise NotFoundPage()
    return int(raw)


def _trend(visit: Visit) -> view.Trend:
    raw = str(visit.request.path_params.get("measure", view.Trend.RECEIVED.value))
    if raw not in view.Trend._value2member_map_:
        raise NotFoundPage()
    return view.Trend(raw)


async def _year_report(visit: Visit, year: int) -> MonitoringReport:
    first, last = view.year_periods(year)
    return await visit.read(
        lambda db: monitoring_report(db=db, actor=visit.principal, first_period=first, last_period=last)
    )


def _years(year: int) -> list[dict[str, object]]:
    """The financial years a person can switch to: the three before this one, this one, and the one asked for."""
    now = current_year()
    choices = sorted({*range(now - 3, now + 1), year})
    return [{"value": str(y), "text": view.financial_year_label(y), "selected": y == year} for y in choices]


async def start(visit: Visit) -> Response:
    return visit.redirect(f"{BASE}/{current_year()}")


async def choose_year(visit: Visit) -> Response:
    """The year chooser is a GET form (no JavaScript): it sends ?year=, answered with the year's own address."""
    raw = visit.request.query_params.get("year", "")[:5]
    if not _YEAR.match(raw) or not EARLIEST_YEAR <= int(raw) <= LATEST_YEAR:
        return visit.redirect(f"{BASE}/{current_year()}")
    return visit.redirect(f"{BASE}/{int(raw)}")


async def overview(visit: Visit) -> Response:
    year = _year(visit)
    report = await _year_report(visit, year)
    return visit.render(
        "commissioner/overview.html",
        title=f"Overview, financial year {view.financial_year_label(year)}",
        year=year,
        years=_years(year),
        lines=view.overview_lines(report),
        targets=view.target_lines(report),
        report=report,
        outcome_labels=view.OUTCOME_LABELS,
        trends=view.TREND_LABELS,
    )


async def trends(visit: Visit) -> Response:
    year, trend = _year(visit), _trend(visit)
    report = await _year_report(visit, year)
    shown = view.trend_view(report, trend)
    return visit.render(
        "commissioner/trends.html",
        title=f"Trends: {shown.label.lower()}, {view.financial_year_label(year)}",
        year=year,
        trend=shown,
        trends=view.TREND_LABELS,
        chart_url=f"{BASE}/{year}/trends/{trend.value}.svg",
    )


async def chart(visit: Visit) -> Response:
    year, trend = _year(visit), _trend(visit)
    report = await _year_report(visit, year)
    shown = view.trend_view(report, trend)
    svg = trend_chart(shown, title=f"{shown.label} by quarter, {view.financial_year_label(year)}")
    return Response(svg, media_type="image/svg+xml", headers=PAGE_HEADERS)


async def provider_page(visit: Visit) -> Response:
    year, slug = _year(visit), str(visit.request.path_params.get("slug", ""))
    if not _SLUG.match(slug):
        raise NotFoundPage()
    report = await _year_report(visit, year)
    names = dict(view.provider_slugs(report))
    if slug not in names:
        raise NotFoundPage()

    async def grants_of_provider(db: AsyncSession) -> list[tuple[Grant, list[GrantTarget]]]:
        rows = await grants_service.list_grants(db=db, actor=visit.principal, financial_year=year)
        slugs = await grants_service.provider_slugs_by_organisation(
            db=db, organisation_ids=[g.provider_organisation_id for g in rows]
        )
        mine = [g for g in rows if slugs.get(g.provider_organisation_id) == slug]
        targets = await grants_service.load_targets_for_grants(
            db=db, actor=visit.principal, grant_ids=[g.id for g in mine if g.id is not None]
        )
        return [(g, list(targets.get(g.id or 0, []))) for g in mine]

    grants = await visit.read(grants_of_provider)
    rows = view.rows_for(report, slug)
    return visit.render(
        "commissioner/provider.html",
        title=f"{names[slug]}, {view.financial_year_label(year)}",
        year=year,
        name=names[slug],
        periods=report.periods,
        rows=rows,
        whole=rows[None],
        grants=grants,
        targets=view.target_lines(report, slug),
        outcome_labels=view.OUTCOME_LABELS,
        target_labels=view.TARGET_LABELS,
        within_48=view.within_48_hours,
    )


async def downloads(visit: Visit) -> Response:
    now = current_year()
    years = list(range(now, now - 3, -1))
    return visit.render(
        "commissioner/downloads.html",
        title="Download the quarterly return and the monitoring figures",
        years=years,
        quarters={y: [f"{y}-Q{n}" for n in range(1, 5)] for y in years},
        year_label=view.financial_year_label,
        quarter_label=view.quarter_label,
    )


def _format(visit: Visit) -> str:
    chosen = str(visit.request.path_params.get("format", ""))
    if chosen not in ("csv", "xlsx"):
        raise NotFoundPage()
    return chosen


def _file(content: bytes, chosen: str, filename: str) -> Response:
    headers = {**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    media_type = "text/csv; charset=utf-8" if chosen == "csv" else XLSX
    return Response(content, media_type=media_type, headers=headers)


async def return_file(visit: Visit) -> Response:
    """The quarterly return, the same bytes `gateway report quarterly` writes for the same quarter."""
    chosen, raw = _format(visit), str(visit.request.path_params.get("period", ""))[:10]
    try:
        period = Quarter.parse(raw).label
    except ValidationFailed:
        raise NotFoundPage() from None
    found = await visit.read(lambda db: quarterly_return(db=db, actor=visit.principal, period=period))
    content = render_csv(found).encode() if chosen == "csv" else render_xlsx(found)
    return _file(content, chosen, f"quarterly-return-{period}.{chosen}")


async def monitoring_file(visit: Visit) -> Response:
    """The year's monitoring figures, the same bytes as `gateway report monitoring` for the year's quarters."""
    chosen, year = _format(visit), _year(visit)
    report = await _year_report(visit, year)
    content = render_monitoring_csv(report).encode() if chosen == "csv" else render_monitoring_xlsx(report)
    return _file(content, chosen, f"monitoring-{year}.{chosen}")
