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
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
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
# SQL: every figure is counted in SQL; Python only adds margins and decides what may be shown
#
# Four statements, each reading only the tasks it needs: those sent in the range, joined to the victim and any
# refused consent for the equality breakdowns; those with an event in the range or still open at its end
# (accepted, closed by reason, first contact by band and against target, in progress); the completed ones with
# their outcome records (joined apart: hashing every outcome record doubled the events pass); and the first
# contacts again for the medians, which PostgreSQL cannot aggregate in parallel. Each counts every quarter with
# FILTER rather than grouping by a computed quarter number: PostgreSQL estimates a GROUP BY on an expression of a
# timestamp at one group per row, which turned a few dozen groups into sorts spilled to disk and stopped it
# aggregating in parallel. The few dozen grouped rows are then summed into cells by a CTE over them, one output
# row per metric, category and provider with a count for each quarter.

CLOSED_STATUSES = (TaskStatus.REJECTED, TaskStatus.CANCELLED, TaskStatus.COMPLETED, TaskStatus.FAILED)
CLOSED_METRICS = {
    TaskStatus.REJECTED: Metric.REJECTED,
    TaskStatus.CANCELLED: Metric.CANCELLED,
    TaskStatus.COMPLETED: Metric.COMPLETED,
    TaskStatus.FAILED: Metric.FAILED,
}


def _during(column: Any, quarter: Quarter) -> ColumnElement[bool]:
    return sa.and_(column >= quarter.starts_at, column < quarter.ends_at)


def _within(column: Any, quarters: Sequence[Quarter]) -> ColumnElement[bool]:
    return sa.and_(column >= quarters[0].starts_at, column < quarters[-1].ends_at)


def _during_one_of(column: Any, quarter: Quarter, quarters: Sequence[Quarter]) -> ColumnElement[bool]:
    """In the quarter, for rows already kept to the range with _within: with one quarter, every such row."""
    return sa.true() if len(quarters) == 1 else _during(column, quarter)


def _open_at_end(quarter: Quarter) -> ColumnElement[bool]:
    return sa.and_(
        _tasks.c.requested_at < quarter.ends_at,
        sa.or_(_tasks.c.closed_at.is_(None), _tasks.c.closed_at >= quarter.ends_at),
    )


def _counted_task() -> ColumnElement[bool]:
    return _tasks.c.status != TaskStatus.ENTERED_IN_ERROR.value


def _seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.extract("epoch", end - start)
    # SQLite keeps datetimes as ISO text; strftime('%s') turns each into whole seconds since the epoch.
    return sa.cast(sa.func.strftime("%s", end), sa.Integer) - sa.cast(sa.func.strftime("%s", start), sa.Integer)


def _contact_delay(dialect: str) -> tuple[ColumnElement[Any], Callable[[int], Any]]:
    """Time from sent to first contact, and how to write a number of hours to compare it with."""
    if dialect == "postgresql":
        # Compared as intervals, which is exact and much cheaper than the numeric epoch of each one.
        return _tasks.c.first_contact_at - _tasks.c.requested_at, lambda hours: timedelta(hours=hours)
    return _seconds_between(dialect, _tasks.c.requested_at, _tasks.c.first_contact_at), lambda hours: hours * HOUR


def _coded(column: Any, codes: Iterable[str]) -> ColumnElement[Any]:
    """The value when it is one of the codes, not-asked when empty, unrecognised otherwise: never free text."""
    return sa.case((column.is_(None), NOT_ASKED), (column.in_(list(codes)), column), else_=UNRECOGNISED)


def _per_quarter(name: str, quarters: Sequence[Quarter], condition: Callable[[Quarter], Any]) -> list[Any]:
    """One count for each quarter, of the rows meeting the condition in that quarter: name0, name1, ..."""
    return [sa.func.count().filter(condition(q)).label(f"{name}{i}") for i, q in enumerate(quarters)]


def _cell_rows(
    grouped: Any,
    name: str,
    quarters: Sequence[Quarter],
    metric: Metric | ColumnElement[Any],
    category: str | ColumnElement[Any],
    *where: ColumnElement[bool],
) -> Any:
    """Cells from a grouped CTE: metric, category, provider, then the name0, name1, ... counts summed per quarter."""
    metric_column = metric if isinstance(metric, ColumnElement) else sa.literal(metric.value)
    category_column = category if isinstance(category, ColumnElement) else sa.literal(category)
    return (
        sa.select(
            metric_column.label("metric"),
            category_column.label("category"),
            grouped.c.p,
            *[sa.func.sum(grouped.c[f"{name}{i}"]) for i in range(len(quarters))],
        )
        .where(*where)
        .group_by(grouped.c.p, *[c for c in (metric, category) if isinstance(c, ColumnElement)])
    )


@asynccontextmanager
async def _planned_for_these_dates(db: AsyncSession, dialect: str) -> AsyncIterator[None]:
    """On PostgreSQL, plan the report's statements for the quarters asked about, not for any quarter."""
    if dialect != "postgresql":
        yield
        return
    # asyncpg prepares every statement, and from the sixth run PostgreSQL may reuse a generic plan that guesses
    # how many tasks fall between two unknown dates: here that plan was nearly twice as slow as one for the dates.
    connection = await db.connection()
    previous = (await connection.execute(sa.text("SELECT current_setting('plan_cache_mode')"))).scalar_one()
    await connection.execute(sa.text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
    yield
    await connection.execute(sa.text("SELECT set_config('plan_cache_mode', :previous, true)"), {"previous": previous})


async def _rows(db: AsyncSession, statement: Any) -> list[Any]:
    # fetch-all, never a single-row fetch: asyncpg's single-row path stops PostgreSQL planning in parallel.
    connection = await db.connection()
    return list((await connection.execute(statement)).all())


async def _collect(db: AsyncSession, statement: Any, cells: dict[Cell, int]) -> None:
    # A zero stays out, as it did when a group with nothing in it produced no row; margins fill it in.
    for metric, category, provider, *counts in await _rows(db, statement):
        for quarter, n in enumerate(counts):
            if n:
                cells[Cell(metric, category, provider, quarter)] = int(n)


async def _received_and_equality(db: AsyncSession, quarters: Sequence[Quarter], cells: dict[Cell, int]) -> None:
    tasks, victims = _tasks.c, _victims.c
    # Only refusals are looked up: with the foreign key, a task with a consent and no refusal found has consented,
    # and hashing the few refusals costs far less than hashing every consent.
    refusals = _consents.alias("refusals")
    refused = sa.or_(tasks.consent_id.is_(None), refusals.c.id.is_not(None))

    def sent(q: Quarter) -> ColumnElement[bool]:
        return _during_one_of(tasks.requested_at, q, quarters)

    # Grouped by the recorded values first (a few hundred groups), then coded and summed per breakdown.
    grouped = (
        sa.select(
            tasks.provider_organisation_id.label("p"),
            victims.equality_age_band,
            victims.equality_sex,
            victims.equality_ethnicity,
            victims.equality_disability,
            *_per_quarter("received", quarters, sent),
            *_per_quarter("declined", quarters, lambda q: sa.and_(sent(q), refused)),
            *_per_quarter("consented", quarters, lambda q: sa.and_(sent(q), sa.not_(refused))),
        )
        .select_from(
            _tasks.join(_victims, victims.id == tasks.victim_id).outerjoin(
                refusals, sa.and_(refusals.c.id == tasks.consent_id, refusals.c.statistics_consent == sa.false())
            )
        )
        .where(_counted_task(), _within(tasks.requested_at, quarters))
        .group_by(
            tasks.provider_organisation_id,
            victims.equality_age_band,
            victims.equality_sex,
            victims.equality_ethnicity,
            victims.equality_disability,
        )
        .cte("received")
    )
    dimensions = {
        Metric.AGE_BAND: _coded(grouped.c.equality_age_band, (a.value for a in AgeBand)),
        Metric.SEX: _coded(grouped.c.equality_sex, (s.value for s in Sex)),
        Metric.ETHNICITY: _coded(sa.func.lower(grouped.c.equality_ethnicity), ETHNIC_GROUPS),
        Metric.DISABILITY: _coded(grouped.c.equality_disability, (d.value for d in Disability)),
    }
    statement = sa.union_all(
        _cell_rows(grouped, "received", quarters, Metric.RECEIVED, ""),
        # Without a consent, or with statistics refused, a referral counts in the totals and no breakdown.
        _cell_rows(grouped, "declined", quarters, Metric.STATISTICS_DECLINED, ""),
        *[_cell_rows(grouped, "consented", quarters, metric, code) for metric, code in dimensions.items()],
    )
    await _collect(db, statement, cells)


async def _task_events(db: AsyncSession, dialect: str, quarters: Sequence[Quarter], cells: dict[Cell, int]) -> None:
    """Accepted, closed (by reason), first contacts (by band and against target) and in progress, in one pass."""
    tasks = _tasks.c
    delay, hours = _contact_delay(dialect)
    target = sa.case(
        *[(tasks.provider_slug == p.slug, hours(p.first_contact_target_hours)) for p in all_profiles().values()],
        else_=None,
    )

    def contact(q: Quarter) -> ColumnElement[bool]:
        return sa.and_(tasks.requested_at.is_not(None), _during(tasks.first_contact_at, q))

    def contact_and(condition: ColumnElement[bool]) -> Callable[[Quarter], ColumnElement[bool]]:
        return lambda q: sa.and_(contact(q), condition)

    bands = {
        ContactBand.WITHIN_24_HOURS: delay <= hours(24),
        ContactBand.FROM_24_TO_48_HOURS: sa.and_(delay > hours(24), delay <= hours(48)),
        ContactBand.OVER_48_HOURS: delay > hours(48),
    }
    band_columns = {band: f"band{index}_" for index, band in enumerate(bands)}
    grouped = (
        sa.select(
            tasks.provider_organisation_id.label("p"),
            tasks.status,
            tasks.status_reason,
            *_per_quarter("accepted", quarters, lambda q: _during(tasks.accepted_at, q)),
            *_per_quarter("closed", quarters, lambda q: _during(tasks.closed_at, q)),
            *_per_quarter("contacts", quarters, contact),
            *_per_quarter("within", quarters, contact_and(delay <= target)),
            *[
                column
                for band, condition in bands.items()
                for column in _per_quarter(band_columns[band], quarters, contact_and(condition))
            ],
            *_per_quarter("open", quarters, _open_at_end),
        )
        .where(
            _counted_task(),
            sa.or_(
                _within(tasks.accepted_at, quarters),
                _within(tasks.closed_at, quarters),
                _within(tasks.first_contact_at, quarters),
                sa.and_(
                    tasks.requested_at < quarters[-1].ends_at,
                    sa.or_(tasks.closed_at.is_(None), tasks.closed_at >= quarters[0].ends_at),
                ),
            ),
        )
        .group_by(tasks.provider_organisation_id, tasks.status, tasks.status_reason)
        .cte("events")
    )
    status, reason = grouped.c.status, sa.func.coalesce(grouped.c.status_reason, "")
    closed_metric = sa.case({s.value: m.value for s, m in CLOSED_METRICS.items()}, value=status)
    statement = sa.union_all(
        _cell_rows(grouped, "accepted", quarters, Metric.ACCEPTED, ""),
        _cell_rows(grouped, "closed", quarters, closed_metric, "", status.in_([s.value for s in CLOSED_STATUSES])),
        _cell_rows(grouped, "closed", quarters, Metric.REJECTED_BY_REASON, reason, status == TaskStatus.REJECTED.value),
        _cell_rows(
            grouped, "closed", quarters, Metric.CANCELLED_BY_REASON, reason, status == TaskStatus.CANCELLED.value
        ),
        _cell_rows(grouped, "contacts", quarters, Metric.FIRST_CONTACTS, ""),
        _cell_rows(grouped, "within", quarters, Metric.FIRST_CONTACT_WITHIN_TARGET, ""),
        *[_cell_rows(grouped, band_columns[b], quarters, Metric.FIRST_CONTACT_BAND, b.value) for b in bands],
        _cell_rows(grouped, "open", quarters, Metric.IN_PROGRESS, ""),
    )
    await _collect(db, statement, cells)


async def _improved(db: AsyncSession, quarters: Sequence[Quarter], cells: dict[Cell, int]) -> None:
    """Completed tasks whose outcome record shows the victim improved, per measure and the quarter it closed."""
    outcomes = _outcomes.c
    counts = [
        sa.func.count().filter(
            _during_one_of(_tasks.c.closed_at, q, quarters), outcomes[column] == MeasureResult.IMPROVED.value
        )
        for column in OUTCOME_COLUMNS.values()
        for q in quarters
    ]
    statement = (
        sa.select(_tasks.c.provider_organisation_id, *counts)
        .select_from(_tasks.join(_outcomes, outcomes.task_id == _tasks.c.id))
        .where(_tasks.c.status == TaskStatus.COMPLETED.value, _within(_tasks.c.closed_at, quarters))
        .group_by(_tasks.c.provider_organisation_id)
    )
    for provider, *improved in await _rows(db, statement):
        for index, n in enumerate(improved):
            if n:
                measure = list(OUTCOME_COLUMNS)[index // len(quarters)]
                cells[Cell(Metric.IMPROVED, measure.value, provider, index % len(quarters))] = int(n)


MedianKey = tuple[int | None, int | None]


async def _median_seconds(db: AsyncSession, dialect: str, quarters: Sequence[Quarter]) -> dict[MedianKey, float]:
    """The median time to first contact for every provider and quarter, each margin and the whole range."""
    inner = (
        sa.select(
            _tasks.c.provider_organisation_id.label("p"),
            sa.case(
                *[(_during(_tasks.c.first_contact_at, q), index) for index, q in enumerate(quarters)], else_=None
            ).label("q"),
            _seconds_between(dialect, _tasks.c.requested_at, _tasks.c.first_contact_at).label("s"),
        )
        .where(_counted_task(), _tasks.c.requested_at.is_not(None), _within(_tasks.c.first_contact_at, quarters))
        .subquery()
    )
    found: dict[MedianKey, float] = {}
    statement: Any
    if dialect == "postgresql":
        median = sa.func.percentile_cont(0.5).within_group(inner.c.s)
        if len(quarters) == 1:
            # Every row is in the one quarter, which has no whole-range row: each provider, then everyone.
            statement = sa.select(sa.func.grouping(inner.c.p), sa.false(), inner.c.p, sa.literal(0), median).group_by(
                sa.func.rollup(inner.c.p)
            )
        else:
            statement = sa.select(
                sa.func.grouping(inner.c.p), sa.func.grouping(inner.c.q), inner.c.p, inner.c.q, median
            ).group_by(
                sa.func.grouping_sets(
                    sa.tuple_(inner.c.p, inner.c.q), sa.tuple_(inner.c.p), sa.tuple_(inner.c.q), sa.text("()")
                )
            )
        for all_providers, whole_range, provider, quarter, value in await _rows(db, statement):
            if value is not None:  # the empty grouping set yields a row even when nothing matched
                found[(None if all_providers else provider, None if whole_range else quarter)] = float(value)
        return found
    # SQLite has no percentile function: rank each group's values and average the middle one or two.
    groupings = ((True, True), (False, True), (True, False), (False, False))
    for by_provider, by_quarter in groupings if len(quarters) > 1 else groupings[:2]:
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
        for provider, quarter, value in await _rows(db, statement):
            if value is not None:
                found[(provider, quarter)] = float(value)
    return found


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
    async with _planned_for_these_dates(db, dialect):
        await _received_and_equality(db, quarters, cells)
        await _task_events(db, dialect, quarters, cells)
        await _improved(db, quarters, cells)
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
