"""The counts behind every figure: read from the delivery rollup, or recomputed from the tasks to check it.

`count_cells` reads the rollup (gateway/monitoring/models.py, kept by gateway/monitoring/rollup.py): a few thousand
rows whatever the number of tasks. `recompute_cells` is the full recomputation the rollup must always equal, kept
for the tests and the benchmark to compare with; the rest of this docstring describes it.

Four statements, each reading only the tasks it needs: those sent in the range, joined to the victim and any
refused consent for the equality breakdowns; those with an event in the range or still open at its end
(accepted, closed by reason, first contact by band and against target, in progress); the completed ones with
their outcome records (joined apart: hashing every outcome record doubled the events pass); and the first
contacts again for the medians, which PostgreSQL cannot aggregate in parallel. Each counts every quarter with
FILTER rather than grouping by a computed quarter number: PostgreSQL estimates a GROUP BY on an expression of a
timestamp at one group per row, which turned a few dozen groups into sorts spilled to disk and stopped it
aggregating in parallel. The few dozen grouped rows are then summed into cells by a CTE over them, one output
row per metric, category and provider with a count for each quarter.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from gateway.consent.models import Consent
from gateway.db import AsyncSession
from gateway.monitoring.models import CONTACT_SECONDS, OPEN_DELTA, DeliveryRollup
from gateway.monitoring.periods import Quarter
from gateway.monitoring.service.cells import ETHNIC_GROUPS, HOUR, NOT_ASKED, UNRECOGNISED, Cell, ContactBand, Metric
from gateway.outcomes.models import MeasureResult, OutcomeRecord
from gateway.referrals.models import ReferralTask, TaskStatus
from gateway.victims.models import AgeBand, Disability, Sex, Victim
from providers.profile import MojOutcome
from providers.registry import all_profiles

_tasks: sa.Table = ReferralTask.__table__  # type: ignore[attr-defined]
_outcomes: sa.Table = OutcomeRecord.__table__  # type: ignore[attr-defined]
_consents: sa.Table = Consent.__table__  # type: ignore[attr-defined]
_victims: sa.Table = Victim.__table__  # type: ignore[attr-defined]

OUTCOME_COLUMNS: dict[MojOutcome, str] = {
    MojOutcome.INFORMED_AND_EMPOWERED: "informed_and_empowered",
    MojOutcome.HEALTH_AND_WELLBEING: "health_and_wellbeing",
    MojOutcome.COPE_AND_RECOVER: "cope_and_recover",
    MojOutcome.FEELING_SAFER: "feeling_safer",
}
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


def _whole_seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    """Each instant cut to its second, then subtracted: what the rollup keeps for medians, on both databases."""
    if dialect == "postgresql":
        return sa.extract("epoch", sa.func.date_trunc("second", end)) - sa.extract(
            "epoch", sa.func.date_trunc("second", start)
        )
    return _seconds_between(dialect, start, end)


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


async def fetch_all(db: AsyncSession, statement: Any) -> list[Any]:
    """Every row, fetched all at once: asyncpg's single-row path stops PostgreSQL planning in parallel."""
    connection = await db.connection()
    return list((await connection.execute(statement)).all())


async def _collect(db: AsyncSession, statement: Any, cells: dict[Cell, int]) -> None:
    # A zero stays out, as it did when a group with nothing in it produced no row; margins fill it in.
    for metric, category, provider, *counts in await fetch_all(db, statement):
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
    for provider, *improved in await fetch_all(db, statement):
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
            _whole_seconds_between(dialect, _tasks.c.requested_at, _tasks.c.first_contact_at).label("s"),
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
        for all_providers, whole_range, provider, quarter, value in await fetch_all(db, statement):
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
        for provider, quarter, value in await fetch_all(db, statement):
            if value is not None:
                found[(provider, quarter)] = float(value)
    return found


async def recompute_cells(
    *, db: AsyncSession, quarters: Sequence[Quarter]
) -> tuple[dict[Cell, int], dict[MedianKey, float]]:
    """The full recomputation from the tasks, by the four statements: what the delivery rollup must always equal.

    The report reads the rollup (count_cells); this stays as the independent check the tests compare it with.
    """
    dialect = (await db.connection()).dialect.name
    cells: dict[Cell, int] = {}
    async with _planned_for_these_dates(db, dialect):
        await _received_and_equality(db, quarters, cells)
        await _task_events(db, dialect, quarters, cells)
        await _improved(db, quarters, cells)
        medians = await _median_seconds(db, dialect, quarters)
    return cells, medians


_rollup: sa.Table = DeliveryRollup.__table__  # type: ignore[attr-defined]


def _median(histogram: Sequence[tuple[int, int]]) -> float | None:
    """The middle value (the mean of the middle two for an even count) of sorted (value, how many) pairs."""
    size = sum(n for _, n in histogram)
    if size == 0:
        return None
    wanted = [(size + 1) // 2, (size + 2) // 2]
    found: list[int] = []
    seen = 0
    for value, n in histogram:
        seen += n
        while wanted and wanted[0] <= seen:
            found.append(value)
            wanted.pop(0)
        if not wanted:
            break
    return sum(found) / 2


def _medians(histograms: dict[tuple[int, int], Counter[int]], quarter_count: int) -> dict[MedianKey, float]:
    """Every provider and quarter, each margin and (over more than one quarter) the whole range."""
    groups: dict[MedianKey, Counter[int]] = defaultdict(Counter)
    for (provider, quarter), histogram in histograms.items():
        keys: list[MedianKey] = [(provider, quarter), (None, quarter)]
        if quarter_count > 1:
            keys += [(provider, None), (None, None)]
        for key in keys:
            groups[key].update(histogram)
    found: dict[MedianKey, float] = {}
    for key, histogram in groups.items():
        median = _median(sorted((v, n) for v, n in histogram.items() if n))
        if median is not None:
            found[key] = median
    return found


async def count_cells(
    *, db: AsyncSession, quarters: Sequence[Quarter]
) -> tuple[dict[Cell, int], dict[MedianKey, float]]:
    """Every non-zero count per provider and quarter, and the medians to first contact, read from the rollup.

    A few thousand rows whatever the number of tasks: the quarters' cells, the running "in progress" series up to
    the last quarter, and the first contacts by whole seconds for the medians.
    """
    index = {q.label: i for i, q in enumerate(quarters)}
    rollup = _rollup.c
    cells: dict[Cell, int] = {}
    histograms: dict[tuple[int, int], Counter[int]] = defaultdict(Counter)
    in_range = sa.and_(rollup.period >= quarters[0].label, rollup.period <= quarters[-1].label)
    statement = sa.select(rollup.provider_organisation_id, rollup.period, rollup.metric, rollup.category, rollup.count)
    for provider, period, metric, category, n in await fetch_all(
        db, statement.where(in_range, rollup.metric != OPEN_DELTA, rollup.count != 0)
    ):
        position = index.get(period)
        if position is None:  # a label sorting inside the range without being one of its quarters: none exist
            continue
        if metric == CONTACT_SECONDS:
            histograms[(provider, position)][int(category)] += n
        else:
            cells[Cell(metric, category, provider, position)] = int(n)
    opened = (
        sa.select(rollup.provider_organisation_id, rollup.period, sa.func.sum(rollup.count))
        .where(rollup.metric == OPEN_DELTA, rollup.period <= quarters[-1].label)
        .group_by(rollup.provider_organisation_id, rollup.period)
        .order_by(rollup.provider_organisation_id, rollup.period)
    )
    running: dict[int, int] = defaultdict(int)
    deltas: dict[tuple[int, str], int] = {}
    for provider, period, n in await fetch_all(db, opened):
        deltas[(provider, period)] = int(n)
    first = quarters[0].label
    for (provider, period), n in sorted(deltas.items()):
        if period < first:
            running[provider] += n
    for position, label in enumerate(index):
        for provider in {p for p, _ in deltas}:
            running[provider] += deltas.get((provider, label), 0)
            if running[provider]:
                cells[Cell(Metric.IN_PROGRESS.value, "", provider, position)] = running[provider]
    return cells, _medians(histograms, len(quarters))
