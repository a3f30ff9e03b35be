"""What the monitoring service returns: counts that say whether they were suppressed, never a row about a person."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Rag(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


@dataclass(frozen=True, slots=True)
class Count:
    value: int | None  # None exactly when suppressed
    suppressed: bool

    @classmethod
    def of(cls, value: int, *, hidden: bool) -> Count:
        """The count as published: the value, or nothing when suppression hides it."""
        return cls(value=None, suppressed=True) if hidden else cls(value=value, suppressed=False)


@dataclass(frozen=True, slots=True)
class Rate:
    percent: float | None  # None when suppressed or when there is nothing to divide by
    suppressed: bool


@dataclass(frozen=True, slots=True)
class CategoryCount:
    category: str
    count: Count


@dataclass(frozen=True, slots=True)
class Volumes:
    received: Count
    accepted: Count
    rejected: Count
    rejected_by_reason: tuple[CategoryCount, ...]
    cancelled: Count
    cancelled_by_reason: tuple[CategoryCount, ...]
    in_progress: Count
    completed: Count
    failed: Count


@dataclass(frozen=True, slots=True)
class FirstContactFigures:
    total: Count
    within_24_hours: Count
    from_24_to_48_hours: Count
    over_48_hours: Count
    within_24_hours_rate: Rate
    from_24_to_48_hours_rate: Rate
    over_48_hours_rate: Rate
    median_hours: float | None
    median_suppressed: bool


@dataclass(frozen=True, slots=True)
class OutcomeFigure:
    measure: str
    improved: Count
    rate: Rate  # improved among completed


@dataclass(frozen=True, slots=True)
class EqualityFigures:
    statistics_declined: Count  # counted in the totals, left out of every breakdown
    age_band: tuple[CategoryCount, ...]
    sex: tuple[CategoryCount, ...]
    ethnicity: tuple[CategoryCount, ...]
    disability: tuple[CategoryCount, ...]


@dataclass(frozen=True, slots=True)
class CostFigures:
    grant_pence: int  # the quarter's share of every grant covering it: amount / quarters in the grant
    cost_per_completed_case_pence: int | None
    suppressed: bool


@dataclass(frozen=True, slots=True)
class TargetResult:
    grant_reference: str
    measure: str
    target: float
    actual: float | None
    suppressed: bool
    status: Rag | None  # None when the actual is suppressed or there is nothing to measure


@dataclass(frozen=True, slots=True)
class MonitoringRow:
    period: str | None  # None: the whole range
    provider_slug: str | None  # None: all providers
    provider_name: str
    volumes: Volumes
    first_contact: FirstContactFigures
    outcomes: tuple[OutcomeFigure, ...]
    equality: EqualityFigures
    cost: CostFigures
    targets: tuple[TargetResult, ...]


@dataclass(frozen=True, slots=True)
class MonitoringReport:
    first_period: str
    last_period: str
    periods: tuple[str, ...]
    suppression_threshold: int
    rows: tuple[MonitoringRow, ...]


@dataclass(frozen=True, slots=True)
class QuarterlyReturnLine:
    provider_slug: str | None  # None: the total line
    provider_name: str
    services: tuple[str, ...]
    referred: Count
    supported: Count
    improved: tuple[CategoryCount, ...]  # one per Ministry of Justice measure


@dataclass(frozen=True, slots=True)
class QuarterlyReturn:
    period: str
    suppression_threshold: int
    lines: tuple[QuarterlyReturnLine, ...]


@dataclass(frozen=True, slots=True)
class RjQuarterFigures:
    """The RJ hub's grant counts for one quarter, each suppressed from 1 to the threshold."""

    period: str
    figures: dict[str, Count]
