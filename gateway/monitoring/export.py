"""The quarterly return as CSV or an Excel workbook; a suppressed count is written as [c], never a number."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook  # type: ignore[import-untyped]

from gateway.monitoring.service import Count, QuarterlyReturn
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
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"Return {report.period}"
    for line in return_table(report):
        sheet.append(list(line))
    notes = workbook.create_sheet("Notes")
    notes.append(
        [
            f"{SUPPRESSED_MARK}: a count from 1 to {report.suppression_threshold}, or one hidden so it "
            "cannot be worked out from the totals, is suppressed."
        ]
    )
    notes.append(["Financial quarters: Q1 April-June, Q2 July-September, Q3 October-December, Q4 January-March."])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
