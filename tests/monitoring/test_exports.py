"""The downloads are byte for byte what `gateway report` writes: a workbook's bytes carry no save time."""

from __future__ import annotations

import io
import re
import zipfile

from gateway.monitoring.export import render_monitoring_xlsx, render_xlsx
from gateway.monitoring.service import Count
from gateway.monitoring.service.figures import CategoryCount, MonitoringReport, QuarterlyReturn, QuarterlyReturnLine
from providers.profile import MojOutcome


def _return() -> QuarterlyReturn:
    line = QuarterlyReturnLine(
        provider_slug=None,
        provider_name="All providers",
        services=(),
        referred=Count(12, False),
        supported=Count(None, True),
        improved=tuple(CategoryCount(m.value, Count(7, False)) for m in MojOutcome),
    )
    return QuarterlyReturn(period="2025-Q1", suppression_threshold=4, lines=(line,))


def test_a_workbook_holds_no_save_time_so_the_same_figures_give_the_same_bytes() -> None:
    empty_report = MonitoringReport("2025-Q1", "2025-Q4", ("2025-Q1",), 4, ())
    for workbook in (render_xlsx(_return()), render_monitoring_xlsx(empty_report)):
        with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
            assert {entry.date_time for entry in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
            core = archive.read("docProps/core.xml").decode()
        stamps = re.findall(r"<dcterms:(created|modified)[^>]*>([^<]*)<", core)
        assert stamps == [("created", "1980-01-01T00:00:00Z"), ("modified", "1980-01-01T00:00:00Z")]
    assert render_xlsx(_return()) == render_xlsx(_return())
