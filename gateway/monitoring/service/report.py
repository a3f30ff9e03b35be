"""The monitoring report: every count suppressed where it must be, assembled into rows per provider and period."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.grants.models import TargetMeasure
from gateway.monitoring.service.access import parse_range, require_monitoring
from gateway.monitoring.service.cells import CATEGORIES, HOUR, Cell, ContactBand, Metric
from gateway.monitoring.service.figures import (
    CategoryCount,
    CostFigures,
    Count,
    EqualityFigures,
    FirstContactFigures,
    MonitoringReport,
    MonitoringRow,
    OutcomeFigure,
    Rag,
    Rate,
    TargetResult,
    Volumes,
)
from gateway.monitoring.service.funding import AgreedTarget, agreed_targets, grant_shares
from gateway.monitoring.service.margins import complete_cells, suppress_cells
from gateway.monitoring.service.monitored import ProviderRef, list_monitored_providers
from gateway.monitoring.service.queries import MedianKey, count_cells
from gateway.monitoring.suppression import DEFAULT_THRESHOLD
from providers.profile import MojOutcome

# Within a tenth of the target is amber: close enough to discuss, not yet a failure.
AMBER_FRACTION = 0.9


@dataclass(frozen=True, slots=True)
class _Published:
    cells: dict[Cell, int]
    hidden: set[Cell]

    def count(self, key: Cell) -> Count:
        return Count.of(self.cells.get(key, 0), hidden=key in self.hidden)

    def rate(self, numerator: Cell, denominator: Cell) -> Rate:
        if numerator in self.hidden or denominator in self.hidden:
            return Rate(percent=None, suppressed=True)
        below = self.cells.get(denominator, 0)
        if below == 0:
            return Rate(percent=None, suppressed=False)
        return Rate(percent=round(100 * self.cells.get(numerator, 0) / below, 1), suppressed=False)

    def categories(self, metric: Metric, provider: int | None, quarter: int | None) -> tuple[CategoryCount, ...]:
        return tuple(
            CategoryCount(category=c, count=self.count(Cell(metric, c, provider, quarter))) for c in CATEGORIES[metric]
        )


def _rag(actual: float, target: float) -> Rag:
    if actual >= target:
        return Rag.GREEN
    return Rag.AMBER if actual >= AMBER_FRACTION * target else Rag.RED


def _target_result(target: AgreedTarget, published: _Published, provider: int, quarter: int) -> TargetResult:
    def cell(metric: Metric, category: str = "") -> Cell:
        return Cell(metric, category, provider, quarter)

    improved_share = {
        TargetMeasure.INFORMED_AND_EMPOWERED_IMPROVED_SHARE: MojOutcome.INFORMED_AND_EMPOWERED,
        TargetMeasure.HEALTH_AND_WELLBEING_IMPROVED_SHARE: MojOutcome.HEALTH_AND_WELLBEING,
        TargetMeasure.COPE_AND_RECOVER_IMPROVED_SHARE: MojOutcome.COPE_AND_RECOVER,
        TargetMeasure.FEELING_SAFER_IMPROVED_SHARE: MojOutcome.FEELING_SAFER,
    }
    actual: float | None
    if target.measure in (TargetMeasure.REFERRALS_RECEIVED_PER_QUARTER, TargetMeasure.CASES_COMPLETED_PER_QUARTER):
        metric = Metric.RECEIVED if target.measure is TargetMeasure.REFERRALS_RECEIVED_PER_QUARTER else Metric.COMPLETED
        count = published.count(cell(metric))
        actual, suppressed = (None if count.value is None else float(count.value)), count.suppressed
    else:
        if target.measure is TargetMeasure.FIRST_CONTACT_WITHIN_TARGET_SHARE:
            rate = published.rate(cell(Metric.FIRST_CONTACT_WITHIN_TARGET), cell(Metric.FIRST_CONTACTS))
        else:
            measure = improved_share[target.measure]
            rate = published.rate(cell(Metric.IMPROVED, measure.value), cell(Metric.COMPLETED))
        actual, suppressed = rate.percent, rate.suppressed
    return TargetResult(
        grant_reference=target.grant_reference,
        measure=target.measure.value,
        target=target.value,
        actual=actual,
        suppressed=suppressed,
        status=None if actual is None else _rag(actual, target.value),
    )


def _row(
    published: _Published,
    *,
    provider: ProviderRef | None,
    quarter: int | None,
    period: str | None,
    medians: dict[MedianKey, float],
    grant_pence: float,
    targets: Sequence[TargetResult],
) -> MonitoringRow:
    p = provider.organisation_id if provider is not None else None

    def cell(metric: Metric, category: str = "") -> Cell:
        return Cell(metric, category, p, quarter)

    def count(metric: Metric, category: str = "") -> Count:
        return published.count(cell(metric, category))

    first_contacts = cell(Metric.FIRST_CONTACTS)
    median_hidden = first_contacts in published.hidden
    median = medians.get((p, quarter))
    completed = cell(Metric.COMPLETED)
    completed_count = published.cells.get(completed, 0)
    cost_hidden = completed in published.hidden
    bands = {b: cell(Metric.FIRST_CONTACT_BAND, b.value) for b in ContactBand}
    return MonitoringRow(
        period=period,
        provider_slug=provider.slug if provider is not None else None,
        provider_name=provider.name if provider is not None else "All providers",
        volumes=Volumes(
            received=count(Metric.RECEIVED),
            accepted=count(Metric.ACCEPTED),
            rejected=count(Metric.REJECTED),
            rejected_by_reason=published.categories(Metric.REJECTED_BY_REASON, p, quarter),
            cancelled=count(Metric.CANCELLED),
            cancelled_by_reason=published.categories(Metric.CANCELLED_BY_REASON, p, quarter),
            in_progress=count(Metric.IN_PROGRESS),
            completed=count(Metric.COMPLETED),
            failed=count(Metric.FAILED),
        ),
        first_contact=FirstContactFigures(
            total=published.count(first_contacts),
            within_24_hours=published.count(bands[ContactBand.WITHIN_24_HOURS]),
            from_24_to_48_hours=published.count(bands[ContactBand.FROM_24_TO_48_HOURS]),
            over_48_hours=published.count(bands[ContactBand.OVER_48_HOURS]),
            within_24_hours_rate=published.rate(bands[ContactBand.WITHIN_24_HOURS], first_contacts),
            from_24_to_48_hours_rate=published.rate(bands[ContactBand.FROM_24_TO_48_HOURS], first_contacts),
            over_48_hours_rate=published.rate(bands[ContactBand.OVER_48_HOURS], first_contacts),
            median_hours=None if median_hidden or median is None else round(median / HOUR, 1),
            median_suppressed=median_hidden,
        ),
        outcomes=tuple(
            OutcomeFigure(
                measure=m.value,
                improved=count(Metric.IMPROVED, m.value),
                rate=published.rate(cell(Metric.IMPROVED, m.value), completed),
            )
            for m in MojOutcome
        ),
        equality=EqualityFigures(
            statistics_declined=count(Metric.STATISTICS_DECLINED),
            age_band=published.categories(Metric.AGE_BAND, p, quarter),
            sex=published.categories(Metric.SEX, p, quarter),
            ethnicity=published.categories(Metric.ETHNICITY, p, quarter),
            disability=published.categories(Metric.DISABILITY, p, quarter),
        ),
        cost=CostFigures(
            grant_pence=round(grant_pence),
            cost_per_completed_case_pence=(
                None
                if cost_hidden or completed_count == 0 or grant_pence == 0
                else round(grant_pence / completed_count)
            ),
            suppressed=cost_hidden,
        ),
        targets=tuple(targets),
    )


async def monitoring_report(
    *,
    db: AsyncSession,
    actor: Principal,
    first_period: str,
    last_period: str,
    threshold: int = DEFAULT_THRESHOLD,
) -> MonitoringReport:
    """Holders of monitoring:read get per-provider, per-quarter aggregates with every count of 1 to 4 suppressed."""
    require_monitoring(actor, threshold)
    quarters = parse_range(first_period, last_period)
    providers = await list_monitored_providers(db=db)
    cells, medians = await count_cells(db=db, quarters=quarters)
    shares = await grant_shares(db=db, quarters=quarters)
    targets = await agreed_targets(db=db, quarters=quarters)
    complete_cells(cells, [p.organisation_id for p in providers], len(quarters))
    published = _Published(cells, suppress_cells(cells, providers, len(quarters), threshold=threshold))

    targets_by_row: dict[tuple[int, int], list[TargetResult]] = defaultdict(list)
    for target in targets:
        for index, quarter in enumerate(quarters):
            if target.first_financial_year <= quarter.financial_year <= target.last_financial_year:
                targets_by_row[(target.provider, index)].append(
                    _target_result(target, published, target.provider, index)
                )

    def grant_pence(provider: ProviderRef | None, quarter_indexes: Iterable[int]) -> float:
        owners = [provider] if provider is not None else providers
        return sum(shares.get((o.organisation_id, q), 0.0) for o in owners for q in quarter_indexes)

    rows: list[MonitoringRow] = []
    periods: list[tuple[int | None, str | None]] = [(i, q.label) for i, q in enumerate(quarters)]
    if len(quarters) > 1:
        periods.append((None, None))
    for period_index, label in periods:
        for provider in [*providers, None]:
            rows.append(
                _row(
                    published,
                    provider=provider,
                    quarter=period_index,
                    period=label,
                    medians=medians,
                    grant_pence=grant_pence(
                        provider, [period_index] if period_index is not None else range(len(quarters))
                    ),
                    targets=(
                        targets_by_row.get((provider.organisation_id, period_index), [])
                        if provider is not None and period_index is not None
                        else []
                    ),
                )
            )
    return MonitoringReport(
        first_period=quarters[0].label,
        last_period=quarters[-1].label,
        periods=tuple(q.label for q in quarters),
        suppression_threshold=threshold,
        rows=tuple(rows),
    )
