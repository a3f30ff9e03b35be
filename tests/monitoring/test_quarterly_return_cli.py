"""`gateway report quarterly` exports the same suppressed figures as CSV or a workbook; quarters map to April years."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.db import AsyncSession
from gateway.errors import ValidationFailed
from gateway.monitoring.periods import Quarter, quarter_containing, quarters_between
from tests.support.casework import YEAR_START, Clock, supported_case
from tests.support.domain import World


@pytest.mark.parametrize(
    ("label", "starts", "ends"),
    [
        ("2026-Q1", datetime(2026, 3, 31, 23, tzinfo=UTC), datetime(2026, 6, 30, 23, tzinfo=UTC)),
        ("2026-Q3", datetime(2026, 10, 1, tzinfo=UTC) - timedelta(hours=1), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-Q4", datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 3, 31, 23, tzinfo=UTC)),
    ],
)
def test_a_quarter_label_names_uk_financial_quarters_at_london_midnight(
    label: str, starts: datetime, ends: datetime
) -> None:
    quarter = Quarter.parse(label)

    assert (quarter.starts_at, quarter.ends_at, quarter.label) == (starts, ends, label)
    assert quarter_containing(starts) == quarter and quarter_containing(ends - timedelta(seconds=1)) == quarter


def test_quarter_ranges_run_across_financial_years_and_bad_labels_are_refused() -> None:
    assert [q.label for q in quarters_between(Quarter.parse("2025-Q4"), Quarter.parse("2026-Q2"))] == [
        "2025-Q4",
        "2026-Q1",
        "2026-Q2",
    ]
    for bad in ("2026-Q5", "2026Q1", "26-Q1", "Q1-2026"):
        with pytest.raises(ValidationFailed):
            Quarter.parse(bad)


async def test_the_cli_exports_the_quarterly_return_as_csv_and_xlsx(
    db: AsyncSession, world: World, clock: Clock, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given five CPN cases supported in 2025-Q1, every one improved on every measure
    for index in range(5):
        await supported_case(
            db,
            world,
            clock,
            provider="cpn",
            sent_at=YEAR_START + timedelta(days=index),
            contact_after=timedelta(hours=2),
        )
    await db.commit()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    workbook_path = tmp_path / "return.xlsx"

    # When the return is exported as CSV to stdout and as a workbook to a file (the command runs its own loop)
    def gateway(*argv: str) -> Result:
        return CliRunner().invoke(main, list(argv))

    as_csv = await asyncio.to_thread(gateway, "report", "quarterly", "--period", "2025-Q1", "--format", "csv")
    as_xlsx = await asyncio.to_thread(
        gateway, "report", "quarterly", "--period", "2025-Q1", "--format", "xlsx", "--output", str(workbook_path)
    )
    refused = await asyncio.to_thread(gateway, "report", "quarterly", "--period", "2025-Q9")

    # Then both hold the same figures: five referred, five supported, five improved on each measure
    assert (as_csv.exit_code, as_xlsx.exit_code) == (0, 0), as_csv.output + as_xlsx.output
    rows = list(csv.reader(io.StringIO(as_csv.output)))
    by_provider = {row[1]: row[4:] for row in rows[1:]}
    assert by_provider["cpn"] == ["5"] * 6
    assert by_provider["total"] == ["5"] * 6
    assert by_provider["family-action"] == ["0"] * 6
    sheet = openpyxl.load_workbook(workbook_path).worksheets[0]
    cells = [[str(c) if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    assert cells == rows
    # And a period that is not a financial quarter is refused with the reason
    assert refused.exit_code == 1 and "financial quarter" in refused.output
