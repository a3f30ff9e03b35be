"""The Restorative Justice hub's grant counts for the Commissioner, suppressed like every commissioner figure."""

from __future__ import annotations

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.monitoring.service.access import parse_range, require_monitoring
from gateway.monitoring.service.figures import Count, RjQuarterFigures
from gateway.monitoring.suppression import DEFAULT_THRESHOLD, primary
from gateway.restorative_justice.service import rj_quarterly_counts

RJ_FIGURES = (
    "cases_referred",
    "assessed_suitable",
    "direct_interventions",
    "indirect_interventions",
    "agreements_completed",
    "follow_ups_recorded",
    "harmed_satisfied",
)


async def restorative_justice_monitoring(
    *,
    db: AsyncSession,
    actor: Principal,
    first_period: str,
    last_period: str,
    threshold: int = DEFAULT_THRESHOLD,
) -> list[RjQuarterFigures]:
    """The RJ hub's counts per quarter for the commissioner, suppressed like every commissioner figure."""
    require_monitoring(actor, threshold)
    result = []
    for quarter in parse_range(first_period, last_period):
        counts = await rj_quarterly_counts(db=db, starts_at=quarter.starts_at, ends_at=quarter.ends_at)
        cells = {name: int(getattr(counts, name)) for name in RJ_FIGURES}
        # No sum of these figures is published, so primary suppression leaves nothing to work back from;
        # satisfied is a subset of follow-ups, and its complement is not published either.
        hidden = primary(cells, threshold=threshold)
        result.append(
            RjQuarterFigures(
                period=quarter.label,
                figures={name: Count.of(n, hidden=name in hidden) for name, n in cells.items()},
            )
        )
    return result
