"""GraphQL shapes for the Commissioner's monitoring, built from the service's aggregate values.

Nothing here refers to a person: every type holds counts, rates, codes and provider names only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

import strawberry

from gateway.directory.vocabularies import MojOutcome
from gateway.grants.vocabularies import TargetMeasure
from gateway.monitoring.service import figures
from gateway.monitoring.vocabularies import Rag

Shape = TypeVar("Shape")


@strawberry.type(name="Count", description="A count, or suppressed: from 1 to the threshold it is never shown.")
class CountType:
    value: int | None
    suppressed: bool


@strawberry.type(name="Rate", description="A percentage to one decimal place; suppressed if a count behind it is.")
class RateType:
    percent: float | None
    suppressed: bool


@strawberry.type(name="CategoryCount")
class CategoryCountType:
    category: str
    value: int | None
    suppressed: bool


@strawberry.type(name="Volumes")
class VolumesType:
    received: CountType
    accepted: CountType
    rejected: CountType
    rejected_by_reason: list[CategoryCountType]
    cancelled: CountType
    cancelled_by_reason: list[CategoryCountType]
    in_progress: CountType = strawberry.field(description="Sent and not yet closed at the end of the period.")
    completed: CountType
    failed: CountType


@strawberry.type(name="FirstContactFigures", description="Hours from the Hub sending a task to first contact.")
class FirstContactType:
    total: CountType
    within_24_hours: CountType
    from_24_to_48_hours: CountType = strawberry.field(description="More than 24 and at most 48 hours.")
    over_48_hours: CountType
    within_24_hours_rate: RateType
    from_24_to_48_hours_rate: RateType
    over_48_hours_rate: RateType
    median_hours: float | None
    median_suppressed: bool


@strawberry.type(name="OutcomeFigure", description="How many completed cases reported improvement on one measure.")
class OutcomeFigureType:
    measure: MojOutcome
    improved: CountType
    rate: RateType = strawberry.field(description="Improved among completed cases.")


@strawberry.type(
    name="EqualityFigures",
    description="Breakdowns of referrals received; victims who declined anonymised statistics are left out of them.",
)
class EqualityType:
    statistics_declined: CountType
    age_band: list[CategoryCountType]
    sex: list[CategoryCountType]
    ethnicity: list[CategoryCountType]
    disability: list[CategoryCountType]


GRANT_SHARE_HELP = "The period's share of the grants: each grant is spread evenly over its quarters."


@strawberry.type(name="CostFigures")
class CostType:
    grant_pence: int = strawberry.field(description=GRANT_SHARE_HELP)
    cost_per_completed_case_pence: int | None
    suppressed: bool


@strawberry.type(name="TargetResult", description="A grant target against the actual figure: green, amber or red.")
class TargetResultType:
    grant_reference: str
    measure: TargetMeasure
    target: float
    actual: float | None
    suppressed: bool
    status: Rag | None


@strawberry.type(name="MonitoringRow", description="One provider (or all) in one quarter (or the whole range).")
class MonitoringRowType:
    period: str | None = strawberry.field(description="A quarter such as 2026-Q3, or null for the whole range.")
    provider_slug: str | None = strawberry.field(description="Null on the all-providers rows.")
    provider_name: str
    volumes: VolumesType
    first_contact: FirstContactType
    outcomes: list[OutcomeFigureType]
    equality: EqualityType
    cost: CostType
    targets: list[TargetResultType]


@strawberry.type(name="MonitoringReport")
class MonitoringReportType:
    first_period: str
    last_period: str
    periods: list[str]
    suppression_threshold: int
    rows: list[MonitoringRowType]


@strawberry.type(name="QuarterlyReturnLine")
class QuarterlyReturnLineType:
    provider_slug: str | None = strawberry.field(description="Null on the total line.")
    provider_name: str
    services: list[str]
    referred: CountType
    supported: CountType
    improved: list[CategoryCountType] = strawberry.field(description="Per Ministry of Justice measure.")


@strawberry.type(name="QuarterlyReturn")
class QuarterlyReturnType:
    period: str
    suppression_threshold: int
    lines: list[QuarterlyReturnLineType]


@strawberry.type(name="RjQuarter", description="The Restorative Justice hub's grant counts for one quarter.")
class RjQuarterType:
    period: str
    cases_referred: CountType
    assessed_suitable: CountType
    direct_interventions: CountType
    indirect_interventions: CountType
    agreements_completed: CountType
    follow_ups_recorded: CountType
    harmed_satisfied: CountType = strawberry.field(description="Of the follow-ups, the person harmed was satisfied.")


# Each service figure and the GraphQL type that declares the same fields, so one conversion serves them all.
SHAPES: dict[type[Any], Callable[..., Any]] = {
    figures.Count: CountType,
    figures.Rate: RateType,
    figures.Volumes: VolumesType,
    figures.FirstContactFigures: FirstContactType,
    figures.OutcomeFigure: OutcomeFigureType,
    figures.EqualityFigures: EqualityType,
    figures.CostFigures: CostType,
    figures.TargetResult: TargetResultType,
    figures.MonitoringRow: MonitoringRowType,
    figures.MonitoringReport: MonitoringReportType,
    figures.QuarterlyReturnLine: QuarterlyReturnLineType,
    figures.QuarterlyReturn: QuarterlyReturnType,
}


def shaped(figure: Any, shape: Callable[..., Shape]) -> Shape:
    """The GraphQL shape of a service figure, field by field: the two declare the same field names."""
    return shape(**{field.name: _shown(getattr(figure, field.name)) for field in dataclasses.fields(figure)})


def _shown(value: Any) -> Any:
    if isinstance(value, figures.CategoryCount):
        # GraphQL reads a category count flat: its category beside the count's value and suppression.
        return CategoryCountType(category=value.category, value=value.count.value, suppressed=value.count.suppressed)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_shown(item) for item in value]
    if dataclasses.is_dataclass(value):
        return shaped(value, SHAPES[type(value)])
    return value


def rj_quarter(quarter: figures.RjQuarterFigures) -> RjQuarterType:
    """The RJ hub's quarter as GraphQL reads it: one field per figure."""
    return RjQuarterType(period=quarter.period, **{name: _shown(count) for name, count in quarter.figures.items()})
