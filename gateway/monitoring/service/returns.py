"""The quarterly return to the Ministry of Justice: per provider, referred, supported and improved per measure."""

from __future__ import annotations

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.monitoring.service.figures import CategoryCount, QuarterlyReturn, QuarterlyReturnLine
from gateway.monitoring.service.monitored import list_monitored_providers
from gateway.monitoring.service.report import monitoring_report
from gateway.monitoring.suppression import DEFAULT_THRESHOLD


async def quarterly_return(
    *, db: AsyncSession, actor: Principal, period: str, threshold: int = DEFAULT_THRESHOLD
) -> QuarterlyReturn:
    """The quarter's return per provider service: referred, supported, and improved per measure, suppressed."""
    report = await monitoring_report(db=db, actor=actor, first_period=period, last_period=period, threshold=threshold)
    providers = {p.slug: p for p in await list_monitored_providers(db=db)}
    lines = [
        QuarterlyReturnLine(
            provider_slug=row.provider_slug,
            provider_name=row.provider_name,
            services=providers[row.provider_slug].services if row.provider_slug is not None else (),
            referred=row.volumes.received,
            supported=row.volumes.completed,
            improved=tuple(CategoryCount(category=o.measure, count=o.improved) for o in row.outcomes),
        )
        for row in report.rows
    ]
    return QuarterlyReturn(period=report.first_period, suppression_threshold=threshold, lines=tuple(lines))
