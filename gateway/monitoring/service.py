"""Rules for the Commissioner's monitoring: aggregates per provider and quarter, small numbers suppressed.

Only holders of monitoring:read reach these figures, and nothing here returns a row about a person: every
query groups in SQL and hands back counts, so no victim id, name or personal field leaves this module.

Figures count referrals to a provider (tasks); a victim referred to two providers counts once for each.
Each event falls in the quarter it happened: received when the Hub sent the task, accepted when accepted,
rejected, cancelled, completed and failed when closed, first contact when made; "in progress" is what was
sent and not yet closed at the end of the quarter. Tasks marked entered-in-error are left out everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from gateway.auth.principal import Principal, Scope
from gateway.consent.models import Consent
from gateway.db import AsyncSession
from gateway.errors import Forbidden, ValidationFailed
from gateway.grants.models import Grant, GrantTarget, TargetMeasure
from gateway.monitoring.periods import Quarter, quarters_between
from gateway.monitoring.suppression import DEFAULT_THRESHOLD, Sum, primary, secondary
from gateway.organisations.models import Organisation, OrganisationRole
from gateway.outcomes.models import MeasureResult, OutcomeRecord
from gateway.referrals.models import CancelReason, ReferralTask, RejectReason, TaskStatus
from gateway.victims.models import PREFER_NOT_TO_SAY, AgeBand, Disability, Sex, Victim
from providers.profile import MojOutcome
from providers.registry import all_profiles

MAX_QUARTERS = 12
# Within a tenth of the target is amber: close enough to discuss, not yet a failure.
AMBER_FRACTION = 0.9
NOT_ASKED = "not-asked"
UNRECOGNISED = "unrecognised"
# The five ONS 2021 census high-level groups. Ethnicity is recorded as text; anything else is reported as
# "unrecognised", so no value typed at the Hub is ever echoed to the Commissioner.
ETHNIC_GROUPS = ("asian", "black", "mixed", "white", "other", PREFER_NOT_TO_SAY)
HOUR = 3600

_tasks: sa.Table = ReferralTask.__table__  # type: ignore[attr-defined]
_outcomes: sa.Table = OutcomeRecord.__table__  # type: ignore[attr-defined]
_consents: sa.Table = Consent.__table__  # type: ignore[attr-defined]
_victims: sa.Table = Victim.__table__  # type: ignore[attr-defined]
_grants: sa.Table = Grant.__table__  # type: ignore[attr-defined]


class Metric(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REJECTED_BY_REASON = "rejected-by-reason"
    CANCELLED = "cancelled"
    CANCELLED_BY_REASON = "cancelled-by-reason"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"
    FIRST_CONTACTS = "first-contacts"
    FIRST_CONTACT_BAND = "first-contact-band"
    FIRST_CONTACT_WITHIN_TARGET = "first-contact-within-target"
    IMPROVED = "improved"
    # Completed minus improved, per measure. Never published, but it is derivable, so it is protected too.
    NOT_IMPROVED_OR_OTHER = "not-improved-or-other"
    STATISTICS_DECLINED = "statistics-declined"
    AGE_BAND = "age-band"
    SEX = "sex"
    ETHNICITY = "ethnicity"
    DISABILITY = "disability"


class ContactBand(StrEnum):
    WITHIN_24_HOURS = "within-24-hours"
    FROM_24_TO_48_HOURS = "24-to-48-hours"
    OVER_48_HOURS = "over-48-hours"


class Rag(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


EQUALITY_CATEGORIES: dict[Metric, tuple[str, ...]] = {
    Metric.AGE_BAND: (*(a.value for a in AgeBand), NOT_ASKED, UNRECOGNISED),
    Metric.SEX: (*(s.value for s in Sex), NOT_ASKED, UNRECOGNISED),
    Metric.ETHNICITY: (*ETHNIC_GROUPS, NOT_ASKED, UNRECOGNISED),
    Metric.DISABILITY: (*(d.value for d in Disability), NOT_ASKED, UNRECOGNISED),
}
CATEGORIES: dict[Metric, tuple[str, ...]] = {
    Metric.REJECTED_BY_REASON: tuple(r.value for r in RejectReason),
    Metric.CANCELLED_BY_REASON: tuple(r.value for r in CancelReason),
    Metric.FIRST_CONTACT_BAND: tuple(b.value for b in ContactBand),
    Metric.IMPROVED: tuple(m.value for m in MojOutcome),
    Metric.NOT_IMPROVED_OR_OTHER: tuple(m.value for m in MojOutcome),
    **EQUALITY_CATEGORIES,
}
# Metrics whose whole-range figure is not the sum of its quarters: a snapshot at the end of each quarter.
SNAPSHOT_METRICS = frozenset({Metric.IN_PROGRESS})
OUTCOME_COLUMNS: dict[MojOutcome, str] = {
    MojOutcome.INFORMED_AND_EMPOWERED: "informed_and_empowered",
    MojOutcome.HEALTH_AND_WELLBEING: "health_and_wellbeing",
    MojOutcome.COPE_AND_RECOVER: "cope_and_recover",
    MojOutcome.FEELING_SAFER: "feeling_safer",
}


class Cell(NamedTuple):
    """One count: a metric and category, for one provider (None: all) and quarter index (None: the range)."""

    metric: str
    category: str
    provider: int | None
    quarter: int | None


# ---------------------------------------------------------------------------------------------------------------------
# What the service returns: counts that say whether they were suppressed, never a row about a person


@dataclass(frozen=True, slots=True)
class Count:
    value: int | None  # None exactly when suppressed
    suppressed: bool


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
class ProviderRef:
    organisation_id: int
    slug: str
    name: str
    first_contact_target_hours: int
    services: tuple[str, ...]


# ---------------------------------------------------------------------------------------------------------------------
# SQL: every figure is a GROUP BY; Python only adds margins and decides what may be shown


def _quarter_index(column: Any, quarters: Sequence[Quarter]) -> ColumnElement[Any]:
    return sa.case(
        *[(sa.and_(column >= q.starts_at, column < q.ends_at), index) for index, q in enumerate(quarters)],
        else_=None,
    )


def _within(column: Any, quarters: Sequence[Quarter]) -> ColumnElement[bool]:
    return sa.and_(column >= quarters[0].starts_at, column < quarters[-1].ends_at)


def _counted_task() -> ColumnElement[bool]:
    return _tasks.c.status != TaskStatus.ENTERED_IN_ERROR.value


def _seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.extract("epoch", end - start)
    # SQLite keeps datetimes as ISO text; strftime('%s') turns each into whole seconds since the epoch.
    return sa.cast(sa.func.strftime("%s", end), sa.Integer) - sa.cast(sa.func.strftime("%s", start), sa.Integer)


def _coded(column: Any, codes: Iterable[str]) -> ColumnElement[Any]:
    """The value when it is one of the codes, not-asked when empty, unrecognised otherwise: never free text."""
    return sa.case((column.is_(None), NOT_ASKED), (column.in_(list(codes)), column), else_=UNRECOGNISED)


async def _rows(db: AsyncSession, statement: Any) -> list[Any]:
    # fetch-all, never a single-row fetch: asyncpg's single-row path stops PostgreSQL planning in parallel.
    connection = await db.connection()
    return list((await connection.execute(statement)).all())


async def _received_and_equality(db: AsyncSession, quarters: Sequence[Quarter], cells: dict[Cell, int]) -> None:
    consented = _consents.c.statistics_consent == sa.true()
    dimensions = {
        Metric.AGE_BAND: _coded(_victims.c.equality_age_band, (a.value for a in AgeBand)),
        Metric.SEX: _coded(_victims.c.equality_sex, (s.value for s in Sex)),
        Metric.ETHNICITY: _coded(sa.func.lower(_victims.c.equality_ethnicity), ETHNIC_GROUPS),
        Metric.DISABILITY: _coded(_victims.c.equality_disability, (d.value for d in Disability)),
    }
    # One scan and join, shared by five groupings: the received count and the four breakdowns.
    base = (
        sa.select(
            _tasks.c.provider_organisation_id.label("p"),
            _quarter_index(_tasks.c.requested_at, quarters).label("q"),
            sa.case((consented, 0), else_=1).label("declined"),
            *[expression.label(metric.name.lower()) for metric, expression in dimensions.items()],
        )
        .select_from(
            _tasks.join(_victims, _victims.c.id == _tasks.c.victim_id).outerjoin(
                _consents, _consents.c.id == _tasks.c.consent_id
            )
        )
        .where(_counted_task(), _within(_tasks.c.requested_at, quarters))
        .cte("received_base")
    )
    groupings = [
        sa.select(
            sa.literal(Metric.RECEIVED.value).label("metric"),
            sa.literal("").label("category"),
            base.c.p,
            base.c.q,
            sa.func.count().label("n"),
        ).group_by(base.c.p, base.c.q),
        sa.select(
            sa.literal(Metric.STATISTICS_DECLINED.value),
            sa.literal(""),
            base.c.p,
            base.c.q,
            sa.func.count(),
        )
        .where(base.c.declined == 1)
        .group_by(base.c.p, base.c.q),
    ]
    for metric in dimensions:
        category = base.c[metric.name.lower()]
        groupings.append(
            sa.select(sa.literal(metric.value), category, base.c.p, base.c.q, sa.func.count())
            .where(base.c.declined == 0)
            .group_by(base.c.p, base.c.q, category)
        )
    for metric, category, provider, quarter, n in await _rows(db, sa.union_all(*groupings)):
        cells[Cell(metric, category, provider, quarter)] = int(n)


async def _accepted(db: AsyncSession, quarters: Sequence[Quarter], cells: dict[Cell, int]) -> None:
    inner = (
        sa.select(
            _tasks.c.provider_organisation_id.label("p"), _quarter_index(_tasks.c.accepted_at, quarters).label("q")
        )
        .where(_counted_task(), _within(_tasks.c.accepted_at, quarters))
        .subquery()
    )
    statement = sa.select(inner.c.p, inner.c.q, sa.func.count()).group_by(inner.c.p, inner.c.q)
    for provider, quarter, n in await _rows(db, statement):
        cells[Cell(Metric.ACCEPTED, "", provider, quarter)] = int(n)


async def _closures_and_outcomes(db: AsyncSession, quarters: Sequence[Quarter], cells: dict[Cell, int]) -> None:
    closed = (TaskStatus.REJECTED, TaskStatus.CANCELLED, TaskStatus.COMPLETED, TaskStatus.FAILED)
    inner = (
        sa.select(
            _tasks.c.provider_organisation_id.label("p"),
            _quarter_index(_tasks.c.closed_at, quarters).label("q"),
            _tasks.c.status.label("status"),
            sa.func.coalesce(_tasks.c.status_reason, "").label("reason"),
            *[
                sa.case((_outcomes.c[column] == MeasureResult.IMPROVED.value, 1), else_=0).label(column)
                for column in OUTCOME_COLUMNS.values()
            ],
        )
        .select_from(_tasks.outerjoin(_outcomes, _outcomes.c.task_id == _tasks.c.id))
        .where(_tasks.c.status.in_([s.value for s in closed]), _within(_tasks.c.closed_at, quarters))
        .subquery()
    )
    statement = sa.select(
        inner.c.p,
        inner.c.q,
        inner.c.status,
        inner.c.reason,
        sa.func.count(),
        *[sa.func.sum(inner.c[column]) for column in OUTCOME_COLUMNS.values()],
    ).group_by(inner.c.p, inner.c.q, inner.c.status, inner.c.reason)
    for provider, quarter, status, reason, n, *improved in await _rows(db, statement):
        total = {
            TaskStatus.REJECTED.value: Metric.REJECTED,
            TaskStatus.CANCELLED.value: Metric.CANCELLED,
            TaskStatus.COMPLETED.value: Metric.COMPLETED,
            TaskStatus.FAILED.value: Metric.FAILED,
        }[status]
        _add(cells, Cell(total, "", provider, quarter), int(n))
        if status == TaskStatus.REJECTED.value:
            _add(cells, Cell(Metric.REJECTED_BY_REASON, reason, provider, quarter), int(n))
        elif status == TaskStatus.CANCELLED.value:
            _add(cells, Cell(Metric.CANCELLED_BY_REASON, reason, provider, quarter), int(n))
        elif status == TaskStatus.COMPLETED.value:
            for measure, count in zip(OUTCOME_COLUMNS, improved, strict=True):
                _add(cells, Cell(Metric.IMPROVED, measure.value, provider, quarter), int(count or 0))


def _first_contact_base(dialect: str, quarters: Sequence[Quarter]) -> Any:
    seconds = _seconds_between(dialect, _tasks.c.requested_at, _tasks.c.first_contact_at)
    target_seconds = sa.case(
        *[(_tasks.c.provider_slug == p.slug, p.first_contact_target_hours * HOUR) for p in all_profiles().values()],
        else_=None,
    )
    return (
        sa.select(
            _tasks.c.provider_organisation_id.label("p"),
            _quarter_index(_tasks.c.first_contact_at, quarters).label("q"),
            seconds.label("s"),
            sa.case((seconds <= target_seconds, 1), else_=0).label("within_target"),
        )
        .where(_counted_task(), _tasks.c.requested_at.is_not(None), _within(_tasks.c.first_contact_at, quarters))
        .subquery()
    )


async def _first_contacts(db: AsyncSession, dialect: str, quarters: Sequence[Quarter], cells: dict[Cell, int]) -> None:
    inner = _first_contact_base(dialect, quarters)
    bands = [
        (ContactBand.WITHIN_24_HOURS, inner.c.s <= 24 * HOUR),
        (ContactBand.FROM_24_TO_48_HOURS, sa.and_(inner.c.s > 24 * HOUR, inner.c.s <= 48 * HOUR)),
        (ContactBand.OVER_48_HOURS, inner.c.s > 48 * HOUR),
    ]
    statement = sa.select(
        inner.c.p,
        inner.c.q,
        sa.func.count(),
        sa.func.sum(inner.c.within_target),
        *[sa.func.sum(sa.case((condition, 1), else_=0)) for _, condition in bands],
    ).group_by(inner.c.p, inner.c.q)
    for provider, quarter, n, within_target, *band_counts in await _rows(db, statement):
        cells[Cell(Metric.FIRST_CONTACTS, "", provider, quarter)] = int(n)
        cells[Cell(Metric.FIRST_CONTACT_WITHIN_TARGET, "", provider, quarter)] = int(within_target or 0)
        for (band, _), count in zip(bands, band_counts, strict=True):
            cells[Cell(Metric.FIRST_CONTACT_BAND, band.value, provider, quarter)] = int(count or 0)


MedianKey = tuple[int | None, int | None]


async def _median_seconds(db: AsyncSession, dialect: str, quarters: Sequence[Quarter]) -> dict[MedianKey, float]:
    """The median time to first contact for every provider and quarter, each margin and the whole range."""
    inner = _first_contact_base(dialect, quarters)
    found: dict[MedianKey, float] = {}
    statement: Any
    if dialect == "postgresql":
        statement = sa.select(
            sa.func.grouping(inner.c.p),
            sa.func.grouping(inner.c.q),
            inner.c.p,
            inner.c.q,
            sa.func.percentile_cont(0.5).within_group(inner.c.s),
        ).group_by(
            sa.func.grouping_sets(
                sa.tuple_(inner.c.p, inner.c.q), sa.tuple_(inner.c.p), sa.tuple_(inner.c.q), sa.text("()")
            )
        )
        for all_providers, whole_range, provider, quarter, median in await _rows(db, statement):
            if median is not None:  # the empty grouping set yields a row even when nothing matched
                found[(None if all_providers else provider, None if whole_range else quarter)] = float(median)
        return found
    # SQLite has no percentile function: rank each group's values and average the middle one or two.
    for by_provider, by_quarter in ((True, True), (True, False), (False, True), (False, False)):
        keys = [c for c, wanted in ((inner.c.p, by_provider), (inner.c.q, by_quarter)) if wanted]
        ranked = sa.select(
            inner.c.p,
            inner.c.q,
            inner.c.s,
            sa.func.row_number().over(partition_by=keys or None, order_by=inner.c.s).label("rank"),
            sa.func.count().over(partition_by=keys or None).label("size"),
        ).subquery()
        middle = ranked.c.rank.in_([(ranked.c.size + 1) // 2, (ranked.c.size + 2) // 2])
        grouped = [ranked.c.p if by_provider else None, ranked.c.q if by_quarter else None]
        statement = sa.select(*[c if c is not None else sa.null() for c in grouped], sa.func.avg(ranked.c.s)).where(
            middle
        )
        group_columns = [c for c in grouped if c is not None]
        if group_columns:
            statement = statement.group_by(*group_columns)
        for provider, quarter, median in await _rows(db, statement):
            if median is not None:
                found[(provider, quarter)] = float(median)
    return found


async def _in_progress(db: AsyncSession, quarters: Sequence[Quarter], cells: dict[Cell, int]) -> None:
    open_at_end = [
        sa.func.sum(
            sa.case(
                (
                    sa.and_(
                        _tasks.c.requested_at < q.ends_at,
                        sa.or_(_tasks.c.closed_at.is_(None), _tasks.c.closed_at >= q.ends_at),
                    ),
                    1,
                ),
                else_=0,
            )
        )
        for q in quarters
    ]
    statement = (
        sa.select(_tasks.c.provider_organisation_id, *open_at_end)
        .where(
            _counted_task(),
            _tasks.c.requested_at < quarters[-1].ends_at,
            sa.or_(_tasks.c.closed_at.is_(None), _tasks.c.closed_at >= quarters[0].ends_at),
        )
        .group_by(_tasks.c.provider_organisation_id)
    )
    for provider, *counts in await _rows(db, statement):
        for index, count in enumerate(counts):
            cells[Cell(Metric.IN_PROGRESS, "", provider, index)] = int(count or 0)


async def _grant_shares(db: AsyncSession, quarters: Sequence[Quarter]) -> dict[tuple[int, int], float]:
    """Each provider's share of grant money per quarter: a grant is spread evenly over its quarters."""
    quarters_in_grant = (_grants.c.last_financial_year - _grants.c.first_financial_year + 1) * 4
    share = sa.cast(_grants.c.amount_pence, sa.Float) / quarters_in_grant
    columns = [
        sa.func.sum(
            sa.case(
                (
                    sa.and_(
                        _grants.c.first_financial_year <= q.financial_year,
                        _grants.c.last_financial_year >= q.financial_year,
                    ),
                    share,
                ),
                else_=0,
            )
        )
        for q in quarters
    ]
    statement = sa.select(_grants.c.provider_organisation_id, *columns).group_by(_grants.c.provider_organisation_id)
    found: dict[tuple[int, int], float] = {}
    for provider, *amounts in await _rows(db, statement):
        for index, amount in enumerate(amounts):
            found[(int(provider), index)] = float(amount or 0)
    return found


@dataclass(frozen=True, slots=True)
class _Target:
    provider: int
    grant_reference: str
    first_financial_year: int
    last_financial_year: int
    measure: TargetMeasure
    value: float


async def _targets(db: AsyncSession, quarters: Sequence[Quarter]) -> list[_Target]:
    rows = await db.exec(
        select(Grant, GrantTarget)
        .join(GrantTarget, col(GrantTarget.grant_id) == col(Grant.id))
        .where(
            col(Grant.first_financial_year) <= quarters[-1].financial_year,
            col(Grant.last_financial_year) >= quarters[0].financial_year,
        )
        .order_by(col(Grant.reference), col(GrantTarget.measure))
    )
    return [
        _Target(
            provider=grant.provider_organisation_id,
            grant_reference=grant.reference,
            first_financial_year=grant.first_financial_year,
            last_financial_year=grant.last_financial_year,
            measure=TargetMeasure(target.measure),
            value=target.value,
        )
        for grant, target in rows.all()
    ]


async def list_monitored_providers(*, db: AsyncSession) -> list[ProviderRef]:
    """Every provider organisation with a registered profile, by slug."""
    profiles = all_profiles()
    rows = await db.exec(
        select(Organisation).where(col(Organisation.slug).in_(list(profiles))).order_by(col(Organisation.slug))
    )
    return [
        ProviderRef(
            organisation_id=o.id,
            slug=o.slug,
            name=profiles[o.slug].display_name,
            first_contact_target_hours=profiles[o.slug].first_contact_target_hours,
            services=profiles[o.slug].services,
        )
        for o in rows.all()
        if o.id is not None and OrganisationRole.PROVIDER.value in o.roles
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Margins and the relations suppression must respect


def _add(cells: dict[Cell, int], key: Cell, n: int) -> None:
    cells[key] = cells.get(key, 0) + n


def _metric_categories() -> list[tuple[Metric, str]]:
    return [(metric, category) for metric in Metric for category in CATEGORIES.get(metric, ("",))]


def _complete_cells(cells: dict[Cell, int], provider_ids: Sequence[int], quarter_count: int) -> None:
    """Zeros where nothing happened, the complements, then the all-provider and whole-range margins."""
    for metric, category in _metric_categories():
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
    for metric, category in _metric_categories():
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
        for metric, category in _metric_categories()
    ]


def _range_sums(provider_ids: Sequence[int], quarter_count: int) -> list[Sum[Cell]]:
    return [
        Sum(
            Cell(metric, category, provider, None),
            tuple(Cell(metric, category, provider, q) for q in range(quarter_count)),
        )
        for metric, category in _metric_categories()
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


# ---------------------------------------------------------------------------------------------------------------------
# Assembling the published figures


@dataclass(frozen=True, slots=True)
class _Published:
    cells: dict[Cell, int]
    hidden: set[Cell]

    def count(self, key: Cell) -> Count:
        if key in self.hidden:
            return Count(value=None, suppressed=True)
        return Count(value=self.cells.get(key, 0), suppressed=False)

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


def _target_result(target: _Target, published: _Published, provider: int, quarter: int) -> TargetResult:
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


def parse_range(first_period: str, last_period: str) -> list[Quarter]:
    """The quarters from first to last inclusive, at most MAX_QUARTERS of them."""
    quarters = quarters_between(Quarter.parse(first_period), Quarter.parse(last_period))
    if len(quarters) > MAX_QUARTERS:
        raise ValidationFailed(f"Ask for at most {MAX_QUARTERS} quarters at a time.")
    return quarters


def _require_monitoring(actor: Principal, threshold: int) -> None:
    if not actor.has(Scope.MONITORING_READ):
        raise Forbidden()
    if threshold < DEFAULT_THRESHOLD:
        # A caller may suppress more than the default, never less.
        raise ValidationFailed(f"The suppression threshold cannot be below {DEFAULT_THRESHOLD}.")


async def monitoring_report(
    *,
    db: AsyncSession,
    actor: Principal,
    first_period: str,
    last_period: str,
    threshold: int = DEFAULT_THRESHOLD,
) -> MonitoringReport:
    """Holders of monitoring:read get per-provider, per-quarter aggregates with every count of 1 to 4 suppressed."""
    _require_monitoring(actor, threshold)
    quarters = parse_range(first_period, last_period)
    dialect = (await db.connection()).dialect.name
    providers = await list_monitored_providers(db=db)
    cells: dict[Cell, int] = {}
    await _received_and_equality(db, quarters, cells)
    await _accepted(db, quarters, cells)
    await _closures_and_outcomes(db, quarters, cells)
    await _first_contacts(db, dialect, quarters, cells)
    await _in_progress(db, quarters, cells)
    medians = await _median_seconds(db, dialect, quarters)
    shares = await _grant_shares(db, quarters)
    targets = await _targets(db, quarters)
    _complete_cells(cells, [p.organisation_id for p in providers], len(quarters))
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


# ---------------------------------------------------------------------------------------------------------------------
# The quarterly return to the Ministry of Justice


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


RJ_FIGURES = (
    "cases_referred",
    "assessed_suitable",
    "direct_interventions",
    "indirect_interventions",
    "agreements_completed",
    "follow_ups_recorded",
    "harmed_satisfied",
)


@dataclass(frozen=True, slots=True)
class RjQuarterFigures:
    """The RJ hub's grant counts for one quarter, each suppressed from 1 to the threshold."""

    period: str
    figures: dict[str, Count]


async def restorative_justice_monitoring(
    *,
    db: AsyncSession,
    actor: Principal,
    first_period: str,
    last_period: str,
    threshold: int = DEFAULT_THRESHOLD,
) -> list[RjQuarterFigures]:
    """The RJ hub's counts per quarter for the commissioner, suppressed like every commissioner figure."""
    _require_monitoring(actor, threshold)
    # Imported here: the RJ service is the source of these counts, and monitoring is its only reader.
    from gateway.restorative_justice.service import rj_quarterly_counts

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
                figures={
                    name: Count(value=None, suppressed=True) if name in hidden else Count(value=n, suppressed=False)
                    for name, n in cells.items()
                },
            )
        )
    return result
