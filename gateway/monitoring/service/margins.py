"""Margins and the relations suppression must respect: totals across providers and over the whole range."""

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
from gateway.monitoring.suppression import Sum, primary, secondary
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


def _range_sums(provider_ids: Sequence[int], quarter_count: int) -> list[Sum[Cell]]:
    return [
        Sum(
            Cell(metric, category, provider, None),
            tuple(Cell(metric, category, provider, q) for q in range(quarter_count)),
        )
        for metric, category in metric_categories()
        if metric not in SNAPSHOT_METRICS
        for provider in [*provider_ids, None]
    ]


def suppress_cells(
    cells: dict[Cell, int], providers: Sequence[ProviderRef], quarter_count: int, *, threshold: int
) -> set[Cell]:
    """Primary and secondary suppression, quarter by quarter first, so a quarter reads the same in any range.

    The whole-range figures are then protected by hiding more whole-range figures only, never by changing a
    quarter: a quarter's figures are identical whether asked for alone (the quarterly return) or in a trend.
    """
    provider_ids = [p.organisation_id for p in providers]
    hidden: set[Cell] = set()
    for quarter in range(quarter_count):
        quarter_cells = {k: v for k, v in cells.items() if k.quarter == quarter}
        sums = _row_sums(providers, quarter) + _margin_sums(provider_ids, quarter)
        hidden |= secondary(quarter_cells, sums, primary(quarter_cells, threshold=threshold))
    if quarter_count > 1:
        range_cells = {k: v for k, v in cells.items() if k.quarter is None}
        sums = _row_sums(providers, None) + _margin_sums(provider_ids, None) + _range_sums(provider_ids, quarter_count)
        quarter_keys = {k for k in cells if k.quarter is not None}
        hidden = secondary(cells, sums, hidden | primary(range_cells, threshold=threshold), frozen=quarter_keys)
        # A snapshot's whole-range figure is its last quarter's, so it is hidden exactly when that one is.
        for key in [k for k in cells if k.quarter is None and k.metric in SNAPSHOT_METRICS]:
            if key._replace(quarter=quarter_count - 1) in hidden:
                hidden.add(key)
            else:
                hidden.discard(key)
    return hidden
