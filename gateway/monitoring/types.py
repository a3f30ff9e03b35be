"""GraphQL shapes for the Commissioner's monitoring, built from the service's aggregate values.

Nothing here refers to a person: every type holds counts, rates, codes and provider names only.
"""

from __future__ import annotations

import strawberry

from gateway.monitoring import service
from gateway.monitoring.service import Count, Rate, RjQuarterFigures


@strawberry.type(name="Count", description="A count, or suppressed: from 1 to the threshold it is never shown.")
class CountType:
    value: int | None
    suppressed: bool

    @staticmethod
    def of(count: Count) -> CountType:
        return CountType(value=count.value, suppressed=count.suppressed)


@strawberry.type(name="Rate", description="A percentage to one decimal place; suppressed if a count behind it is.")
class RateType:
    percent: float | None
    suppressed: bool

    @staticmethod
    def of(rate: Rate) -> RateType:
        return RateType(percent=rate.percent, suppressed=rate.suppressed)


@strawberry.type(name="CategoryCount")
class CategoryCountType:
    category: str
    value: int | None
    suppressed: bool

    @staticmethod
    def all_of(counts: tuple[service.CategoryCount, ...]) -> list[CategoryCountType]:
        return [
            CategoryCountType(category=c.category, value=c.count.value, suppressed=c.count.suppressed) for c in counts
        ]


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

    @staticmethod
    def of(v: service.Volumes) -> VolumesType:
        return VolumesType(
            received=CountType.of(v.received),
            accepted=CountType.of(v.accepted),
            rejected=CountType.of(v.rejected),
            rejected_by_reason=CategoryCountType.all_of(v.rejected_by_reason),
            cancelled=CountType.of(v.cancelled),
            cancelled_by_reason=CategoryCountType.all_of(v.cancelled_by_reason),
            in_progress=CountType.of(v.in_progress),
            completed=CountType.of(v.completed),
            failed=CountType.of(v.failed),
        )


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

    @staticmethod
    def of(f: service.FirstContactFigures) -> FirstContactType:
        return FirstContactType(
            total=CountType.of(f.total),
            within_24_hours=CountType.of(f.within_24_hours),
            from_24_to_48_hours=CountType.of(f.from_24_to_48_hours),
            over_48_hours=CountType.of(f.over_48_hours),
            within_24_hours_rate=RateType.of(f.within_24_hours_rate),
            from_24_to_48_hours_rate=RateType.of(f.from_24_to_48_hours_rate),
            over_48_hours_rate=RateType.of(f.over_48_hours_rate),
            median_hours=f.median_hours,
            median_suppressed=f.median_suppressed,
        )


@strawberry.type(name="OutcomeFigure", description="How many completed cases reported improvement on one measure.")
class OutcomeFigureType:
    measure: str
    improved: CountType
    rate: RateType = strawberry.field(description="Improved among completed cases.")

    @staticmethod
    def of(o: service.OutcomeFigure) -> OutcomeFigureType:
        return OutcomeFigureType(measure=o.measure, improved=CountType.of(o.improved), rate=RateType.of(o.rate))


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

    @staticmethod
    def of(e: service.EqualityFigures) -> EqualityType:
        return EqualityType(
            statistics_declined=CountType.of(e.statistics_declined),
            age_band=CategoryCountType.all_of(e.age_band),
            sex=CategoryCountType.all_of(e.sex),
            ethnicity=CategoryCountType.all_of(e.ethnicity),
            disability=CategoryCountType.all_of(e.disability),
        )


GRANT_SHARE_HELP = "The period's share of the grants: each grant is spread evenly over its quarters."


@strawberry.type(name="CostFigures")
class CostType:
    grant_pence: int = strawberry.field(description=GRANT_SHARE_HELP)
    cost_per_completed_case_pence: int | None
    suppressed: bool

    @staticmethod
    def of(c: service.CostFigures) -> CostType:
        return CostType(
            grant_pence=c.grant_pence,
            cost_per_completed_case_pence=c.cost_per_completed_case_pence,
            suppressed=c.suppressed,
        )


@strawberry.type(name="TargetResult", description="A grant target against the actual figure: green, amber or red.")
class TargetResultType:
    grant_reference: str
    measure: str
    target: float
    actual: float | None
    suppressed: bool
    status: str | None

    @staticmethod
    def of(t: service.TargetResult) -> TargetResultType:
        return TargetResultType(
            grant_reference=t.grant_reference,
            measure=t.measure,
            target=t.target,
            actual=t.actual,
            suppressed=t.suppressed,
            status=t.status.value if t.status is not None else None,
        )


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

    @staticmethod
    def of(r: service.MonitoringRow) -> MonitoringRowType:
        return MonitoringRowType(
            period=r.period,
            provider_slug=r.provider_slug,
            provider_name=r.provider_name,
            volumes=VolumesType.of(r.volumes),
            first_contact=FirstContactType.of(r.first_contact),
            outcomes=[OutcomeFigureType.of(o) for o in r.outcomes],
            equality=EqualityType.of(r.equality),
            cost=CostType.of(r.cost),
            targets=[TargetResultType.of(t) for t in r.targets],
        )


@strawberry.type(name="MonitoringReport")
class MonitoringReportType:
    first_period: str
    last_period: str
    periods: list[str]
    suppression_threshold: int
    rows: list[MonitoringRowType]

    @staticmethod
    def of(r: service.MonitoringReport) -> MonitoringReportType:
        return MonitoringReportType(
            first_period=r.first_period,
            last_period=r.last_period,
            periods=list(r.periods),
            suppression_threshold=r.suppression_threshold,
            rows=[MonitoringRowType.of(row) for row in r.rows],
        )


@strawberry.type(name="QuarterlyReturnLine")
class QuarterlyReturnLineType:
    provider_slug: str | None = strawberry.field(description="Null on the total line.")
    provider_name: str
    services: list[str]
    referred: CountType
    supported: CountType
    improved: list[CategoryCountType] = strawberry.field(description="Per Ministry of Justice measure.")

    @staticmethod
    def of(line: service.QuarterlyReturnLine) -> QuarterlyReturnLineType:
        return QuarterlyReturnLineType(
            provider_slug=line.provider_slug,
            provider_name=line.provider_name,
            services=list(line.services),
            referred=CountType.of(line.referred),
            supported=CountType.of(line.supported),
            improved=CategoryCountType.all_of(line.improved),
        )


@strawberry.type(name="QuarterlyReturn")
class QuarterlyReturnType:
    period: str
    suppression_threshold: int
    lines: list[QuarterlyReturnLineType]

    @staticmethod
    def of(r: service.QuarterlyReturn) -> QuarterlyReturnType:
        return QuarterlyReturnType(
            period=r.period,
            suppression_threshold=r.suppression_threshold,
            lines=[QuarterlyReturnLineType.of(line) for line in r.lines],
        )


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

    @staticmethod
    def of(quarter: RjQuarterFigures) -> RjQuarterType:
        counts = {name: CountType.of(count) for name, count in quarter.figures.items()}
        return RjQuarterType(period=quarter.period, **counts)
