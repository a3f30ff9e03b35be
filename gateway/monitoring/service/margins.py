"""Margins and the relations suppression must respect: totals within each row and across providers."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.monitoring.service.cells import (
    CATEGORIES,
    EQUALITY_CATEGORIES,
    SNAPSHOT_METRICS,
    Cell,
    Metric,
    metric_categories,
)
from gateway.monitoring.service.monitored import ProviderRef
from gateway.monitoring.suppression import Sum, primary, protect
from providers.profile import MojOutcome


def complete_cells(cells: dict[Cell, int], provider_ids: Sequence[int], quarter_count: int) -> None:
    """Zeros where nothing happened, the complements, then the all-provider and whole-range margins."""
    for metric, category in metric_categories():
        for provider in provider_ids:
            for quarter in range(quarter_count):
                cells.setdefault(Cell(metric, category, provider, quarter), 0)
    for provider in provider_ids:
        for quarter in range(quarter_count):
            completed = cells[Cell(Metric.COMPLETED, "", provider, quarter)]
            for measure in MojOutcome:
                improved = cells[Cell(Metric.IMPROVED, measure.value, provider, quarter)]
                cells[Cell(Metric.NOT_IMPROVED_OR_OTHER, measure.value, provider, quarter)] = completed - improved
    # Drop anything for an organisation that is not a monitored provider (a misconfigured one stays out).
    for key in [k for k in cells if k.provider not in provider_ids]:
        del cells[key]
    for metric, category in metric_categories():
        for quarter in range(quarter_count):
            cells[Cell(metric, category, None, quarter)] = sum(
                cells[Cell(metric, category, p, quarter)] for p in provider_ids
            )
        if quarter_count > 1:
            last = quarter_count - 1
            for owner in [*provider_ids, None]:
                quarters = [last] if metric in SNAPSHOT_METRICS else list(range(quarter_count))
                cells[Cell(metric, category, owner, None)] = sum(
                    cells[Cell(metric, category, owner, q)] for q in quarters
                )


def _row_sums(providers: Sequence[ProviderRef], quarter: int | None) -> list[Sum[Cell]]:
    """Totals that equal the sum of their parts within one row (one provider or all, one period)."""
    sums: list[Sum[Cell]] = []
    for provider in [*providers, None]:
        p = provider.organisation_id if provider is not None else None

        def cell(metric: Metric, category: str = "", p: int | None = p) -> Cell:
            return Cell(metric, category, p, quarter)

        def parts(metric: Metric, p: int | None = p) -> tuple[Cell, ...]:
            return tuple(Cell(metric, c, p, quarter) for c in CATEGORIES[metric])

        sums.append(Sum(cell(Metric.REJECTED), parts(Metric.REJECTED_BY_REASON)))
        sums.append(Sum(cell(Metric.CANCELLED), parts(Metric.CANCELLED_BY_REASON)))
        sums.append(Sum(cell(Metric.FIRST_CONTACTS), parts(Metric.FIRST_CONTACT_BAND)))
        for metric in EQUALITY_CATEGORIES:
            sums.append(Sum(cell(Metric.RECEIVED), (*parts(metric), cell(Metric.STATISTICS_DECLINED))))
        for measure in MojOutcome:
            sums.append(
                Sum(
                    cell(Metric.COMPLETED),
                    (cell(Metric.IMPROVED, measure.value), cell(Metric.NOT_IMPROVED_OR_OTHER, measure.value)),
                )
            )
        if provider is not None:
            # Within a 24 or 48 hour target, "within target" is the sum of the bands below it.
            bands = {24: 1, 48: 2}.get(provider.first_contact_target_hours)
            if bands is not None:
                sums.append(Sum(cell(Metric.FIRST_CONTACT_WITHIN_TARGET), parts(Metric.FIRST_CONTACT_BAND)[:bands]))
    return sums


def _margin_sums(provider_ids: Sequence[int], quarter: int | None) -> list[Sum[Cell]]:
    return [
        Sum(Cell(metric, category, None, quarter), tuple(Cell(metric, category, p, quarter) for p in provider_ids))
        for metric, category in metric_categories()
    ]


def quarter_sums(providers: Sequence[ProviderRef], quarter: int) -> list[Sum[Cell]]:
    """Every sum published for one quarter: within each row, and each provider to the all-provider figure."""
    return _row_sums(providers, quarter) + _margin_sums([p.organisation_id for p in providers], quarter)


def _order(cell: Cell) -> tuple[str, str, int, int]:
    return (cell.metric, cell.category, -1 if cell.provider is None else cell.provider, cell.quarter or 0)


def suppress_cells(
    cells: dict[Cell, int], providers: Sequence[ProviderRef], quarter_count: int, *, threshold: int
) -> set[Cell]:
    """Primary suppression and an audit of every quarter's sums; a whole-range figure hides with its quarters.

    Each quarter is audited on its own figures only, so it reads the same alone (the quarterly return), in a
    trend, or in any range. A whole-range figure is hidden whenever any quarter it adds up is hidden: every
    published range figure is then the sum of published quarter figures and tells nothing new, however many
    overlapping ranges are asked for. (Publishing a range total over hidden quarters is what lets two
    requests, 2025-Q1..Q2 and 2025-Q1..Q3, be subtracted to give a hidden 2025-Q3 figure.) Quarters share no
    cell, so a hidden quarter cell that its own quarter cannot fix cannot be fixed by all of them together.
    """
    hidden: set[Cell] = set()
    for quarter in range(quarter_count):
        quarter_cells = {k: v for k, v in cells.items() if k.quarter == quarter}
        # Completed minus improved is never published, but it can be worked out, so a small one is protected too.
        complements = {k for k in quarter_cells if k.metric == Metric.NOT_IMPROVED_OR_OTHER}
        hidden |= protect(
            quarter_cells,
            quarter_sums(providers, quarter),
            primary(quarter_cells, threshold=threshold),
            unpublished=complements,
            order=_order,
        )
    if quarter_count > 1:
        last = quarter_count - 1
        for key in [k for k in cells if k.quarter is None]:
            quarters = [last] if key.metric in SNAPSHOT_METRICS else range(quarter_count)
            if any(key._replace(quarter=q) in hidden for q in quarters):
                hidden.add(key)
    return hidden
