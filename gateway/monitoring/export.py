"""The quarterly return and the monitoring figures as CSV or an Excel workbook; a suppressed count is [c].

The same function makes the bytes for `gateway report` and for the portal's downloads, and a workbook's bytes
depend only on its figures (no save time inside), so the two can be compared byte for byte.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Sequence

from openpyxl import Workbook  # type: ignore[import-untyped]

from gateway.monitoring.service import Count, MonitoringRow, QuarterlyReturn
from gateway.monitoring.service.figures import CategoryCount, MonitoringReport
from providers.profile import MojOutcome

# The Office for National Statistics' shorthand for a figure withheld to protect confidentiality.
SUPPRESSED_MARK = "[c]"
HEADER = (
    "period",
    "provider",
    "provider_name",
    "services",
    "referred",
    "supported",
    *(f"improved_{m.value}" for m in MojOutcome),
)


def _cell(count: Count) -> int | str:
    return SUPPRESSED_MARK if count.suppressed or count.value is None else count.value


def return_table(report: QuarterlyReturn) -> list[tuple[int | str, ...]]:
    """The header and one line per provider, then the total line."""
    lines: list[tuple[int | str, ...]] = [HEADER]
    for line in report.lines:
        improved = {c.category: c.count for c in line.improved}
        lines.append(
            (
                report.period,
                line.provider_slug or "total",
                line.provider_name,
                "; ".join(line.services),
                _cell(line.referred),
                _cell(line.supported),
                *(_cell(improved[m.value]) for m in MojOutcome),
            )
        )
    return lines


def render_csv(report: QuarterlyReturn) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(return_table(report))
    return buffer.getvalue()


def render_xlsx(report: QuarterlyReturn) -> bytes:
    return _workbook(f"Return {report.period}", return_table(report), report.suppression_threshold)


# -- the monitoring figures, one line per figure: period, provider, figure, category, value ----------------------

MONITORING_HEADER = ("period", "provider", "provider_name", "figure", "category", "value")


def _figures(row: MonitoringRow) -> list[tuple[str, str, Count]]:
    """Every count of a row as (figure, category, count); rates, medians and costs follow from the counts."""
    volumes, contact, equality = row.volumes, row.first_contact, row.equality

    def each(name: str, items: Sequence[CategoryCount]) -> list[tuple[str, str, Count]]:
        return [(name, item.category, item.count) for item in items]

    return [
        ("received", "", volumes.received),
        ("accepted", "", volumes.accepted),
        ("rejected", "", volumes.rejected),
        *each("rejected", volumes.rejected_by_reason),
        ("cancelled", "", volumes.cancelled),
        *each("cancelled", volumes.cancelled_by_reason),
        ("in_progress", "", volumes.in_progress),
        ("completed", "", volumes.completed),
        ("failed", "", volumes.failed),
        ("first_contacts", "", contact.total),
        ("first_contacts", "within-24-hours", contact.within_24_hours),
        ("first_contacts", "24-to-48-hours", contact.from_24_to_48_hours),
        ("first_contacts", "over-48-hours", contact.over_48_hours),
        *[("improved", outcome.measure, outcome.improved) for outcome in row.outcomes],
        ("statistics_declined", "", equality.statistics_declined),
        *each("age_band", equality.age_band),
        *each("sex", equality.sex),
        *each("ethnicity", equality.ethnicity),
        *each("disability", equality.disability),
    ]


def monitoring_table(report: MonitoringReport) -> list[tuple[int | str, ...]]:
    """The header and one line per published count, quarter by quarter, then the whole range."""
    whole_range = f"{report.first_period}..{report.last_period}"
    lines: list[tuple[int | str, ...]] = [MONITORING_HEADER]
    for row in report.rows:
        for figure, category, count in _figures(row):
            lines.append(
                (
                    row.period or whole_range,
                    row.provider_slug or "total",
                    row.provider_name,
                    figure,
                    category,
                    _cell(count),
                )
            )
    return lines


def render_monitoring_csv(report: MonitoringReport) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(monitoring_table(report))
    return buffer.getvalue()


def render_monitoring_xlsx(report: MonitoringReport) -> bytes:
    title = f"Monitoring {report.first_period}" + ("" if report.first_period == report.last_period else "+")
    return _workbook(title, monitoring_table(report), report.suppression_threshold)


# -- workbooks whose bytes depend only on their contents -------------------------------------------------------

# Excel's own epoch for "no date": ZIP entries and the document properties carry it instead of the save time.
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FIXED_STAMP = "1980-01-01T00:00:00Z"
_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _workbook(title: str, lines: list[tuple[int | str, ...]], threshold: int) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for line in lines:
        sheet.append(list(line))
    notes = workbook.create_sheet("Notes")
    notes.append(
        [
            f"{SUPPRESSED_MARK}: a count from 1 to {threshold}, or one hidden so it "
            "cannot be worked out from the totals, is suppressed."
        ]
    )
    notes.append(["Financial quarters: Q1 April-June, Q2 July-September, Q3 October-December, Q4 January-March."])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _without_save_time(buffer.getvalue())


def _without_save_time(saved: bytes) -> bytes:
    """The same workbook with a fixed time in every ZIP entry and in its created and modified properties."""
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved)) as source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            content = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                content = _STAMP.sub(rb"\g<1>" + _FIXED_STAMP.encode() + rb"\g<2>", content)
            target.writestr(zipfile.ZipInfo(entry.filename, date_time=_FIXED_ZIP_TIME), content, zipfile.ZIP_DEFLATED)
    return output.getvalue()
