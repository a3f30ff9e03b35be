"""Keeping the delivery rollup: every change that moves a monitoring count moves the rollup in the same transaction.

One mechanism, not a call in every service function: SQLAlchemy session hooks, installed once for every session
(gateway/monitoring/hooks.py). Whatever changes a task, its victim's equality answers, its consent or its outcome
record is seen either in a flush (objects added, changed or deleted) or as an UPDATE or DELETE statement run through
the session (the compare-and-set transitions, consent withdrawal). Before the change, the tasks it may touch are
locked (SELECT ... FOR UPDATE, in id order) and, the first time the transaction touches each, what it contributes
is read: a dict cell -> count worked out in Python by `contribution`, from the task, its victim's answers, its
consent and its outcome record. At commit the transaction's tasks are read once more (all but new ones written
without any date, such as a new draft, which count nowhere) and the difference is added to the rollup by one
upsert, `count = count + delta`, in key order: two transactions moving the same cell both land, the task locks
mean each "before" is what the last writer committed, and the rollup's shared rows are locked only while
committing, so writers to one provider's quarter do not queue behind each other's whole transactions.

Retention erasure writes through the connection, not the session, so it is not seen here: it keeps every field
these counts read (status, provider, dates, consent link and statistics consent, outcome records, equality answers
recoded to the very codes counted), so it moves no count. Anything written around the session (raw SQL, COPY) is
missed; `gateway report rebuild-rollup` recomputes the whole table from the tasks.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from gateway.consent.models import Consent
from gateway.db import AsyncSession
from gateway.monitoring.models import CONTACT_SECONDS, OPEN_DELTA, DeliveryRollup
from gateway.monitoring.periods import EARLIEST_YEAR, LATEST_YEAR, Quarter, quarter_containing
from gateway.monitoring.service.cells import ETHNIC_GROUPS, HOUR, NOT_ASKED, UNRECOGNISED, ContactBand, Metric
from gateway.outcomes.models import MeasureResult, OutcomeRecord
from gateway.referrals.models import ReferralTask, TaskStatus
from gateway.victims.models import AgeBand, Disability, Sex, Victim
from providers.profile import MojOutcome
from providers.registry import all_profiles

RollupKey = tuple[int, str, str, str]  # provider organisation id, period label, metric, category
Contribution = Counter[RollupKey]

_rollup: sa.Table = DeliveryRollup.__table__  # type: ignore[attr-defined]
_tasks: sa.Table = ReferralTask.__table__  # type: ignore[attr-defined]
_victims: sa.Table = Victim.__table__  # type: ignore[attr-defined]
_consents: sa.Table = Consent.__table__  # type: ignore[attr-defined]
_outcomes: sa.Table = OutcomeRecord.__table__  # type: ignore[attr-defined]

_CLOSED = {
    TaskStatus.REJECTED.value: Metric.REJECTED,
    TaskStatus.CANCELLED.value: Metric.CANCELLED,
    TaskStatus.COMPLETED.value: Metric.COMPLETED,
    TaskStatus.FAILED.value: Metric.FAILED,
}
_BY_REASON = {
    TaskStatus.REJECTED.value: Metric.REJECTED_BY_REASON,
    TaskStatus.CANCELLED.value: Metric.CANCELLED_BY_REASON,
}
_OUTCOME_COLUMNS = {
    MojOutcome.INFORMED_AND_EMPOWERED: "informed_and_empowered",
    MojOutcome.HEALTH_AND_WELLBEING: "health_and_wellbeing",
    MojOutcome.COPE_AND_RECOVER: "cope_and_recover",
    MojOutcome.FEELING_SAFER: "feeling_safer",
}
_AGE_BANDS = frozenset(a.value for a in AgeBand)
_SEXES = frozenset(s.value for s in Sex)
_DISABILITIES = frozenset(d.value for d in Disability)

# What a task's contribution is read from: the task, its victim's answers, its consent and its outcome record.
_ROW_COLUMNS = (
    _tasks.c.id,
    _tasks.c.provider_organisation_id,
    _tasks.c.provider_slug,
    _tasks.c.status,
    _tasks.c.status_reason,
    _tasks.c.consent_id,
    _tasks.c.requested_at,
    _tasks.c.accepted_at,
    _tasks.c.closed_at,
    _tasks.c.first_contact_at,
    _victims.c.id.label("victim_found"),
    _victims.c.equality_age_band,
    _victims.c.equality_sex,
    _victims.c.equality_ethnicity,
    _victims.c.equality_disability,
    _consents.c.statistics_consent,
    *[_outcomes.c[column] for column in _OUTCOME_COLUMNS.values()],
)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# Quarter boundaries as UTC instants, so a rebuild over a million tasks finds each quarter by bisection rather
# than converting every timestamp to UK time; outside these years the conversion is done the slow way.
_STARTS = [Quarter(year, number) for year in range(EARLIEST_YEAR, LATEST_YEAR + 1) for number in (1, 2, 3, 4)]
_START_INSTANTS = [q.starts_at for q in _STARTS]


def _period(moment: datetime) -> str:
    moment = _utc(moment)
    position = bisect_right(_START_INSTANTS, moment) - 1
    if position < 0 or position == len(_STARTS) - 1:
        return quarter_containing(moment).label
    return _STARTS[position].label


def _whole_seconds(start: datetime, end: datetime) -> int:
    """As SQLite's strftime('%s') counts: each instant cut to its second, then subtracted."""
    return int(_utc(end).replace(microsecond=0).timestamp()) - int(_utc(start).replace(microsecond=0).timestamp())


def _coded(value: str | None, codes: Iterable[str]) -> str:
    if value is None:
        return NOT_ASKED
    return value if value in codes else UNRECOGNISED


def _add_received(row: Any, add: Any) -> None:
    requested = row.requested_at
    if requested is None or row.victim_found is None:
        return
    add(requested, Metric.RECEIVED)
    # No consent, or statistics refused: counted in the totals and in no breakdown.
    if row.consent_id is None or row.statistics_consent is False:
        add(requested, Metric.STATISTICS_DECLINED)
        return
    ethnicity = row.equality_ethnicity.lower() if row.equality_ethnicity is not None else None
    add(requested, Metric.AGE_BAND, _coded(row.equality_age_band, _AGE_BANDS))
    add(requested, Metric.SEX, _coded(row.equality_sex, _SEXES))
    add(requested, Metric.ETHNICITY, _coded(ethnicity, ETHNIC_GROUPS))
    add(requested, Metric.DISABILITY, _coded(row.equality_disability, _DISABILITIES))


def _add_first_contact(row: Any, dialect: str, add: Any) -> None:
    requested, contact = row.requested_at, row.first_contact_at
    if requested is None or contact is None:
        return
    seconds = _whole_seconds(requested, contact)
    # PostgreSQL compares the exact interval; SQLite whole seconds, as the counting SQL does on each.
    delay = (_utc(contact) - _utc(requested)) / timedelta(seconds=1) if dialect == "postgresql" else float(seconds)
    add(contact, Metric.FIRST_CONTACTS)
    add(contact, CONTACT_SECONDS, str(seconds))
    profile = all_profiles().get(row.provider_slug)
    if profile is not None and delay <= profile.first_contact_target_hours * HOUR:
        add(contact, Metric.FIRST_CONTACT_WITHIN_TARGET)
    if delay <= 24 * HOUR:
        band = ContactBand.WITHIN_24_HOURS
    elif delay <= 48 * HOUR:
        band = ContactBand.FROM_24_TO_48_HOURS
    else:
        band = ContactBand.OVER_48_HOURS
    add(contact, Metric.FIRST_CONTACT_BAND, band.value)


def contribution(row: Any, dialect: str) -> Contribution:
    """What one task adds to the rollup: the same rules as the counting SQL (gateway/monitoring/service/queries.py)."""
    found: Contribution = Counter()
    if row.status == TaskStatus.ENTERED_IN_ERROR.value:
        return found
    provider = int(row.provider_organisation_id)

    def add(moment: datetime, metric: str, category: str = "", n: int = 1) -> None:
        found[(provider, _period(moment), metric, category)] += n

    requested, closed = row.requested_at, row.closed_at
    _add_received(row, add)
    if row.accepted_at is not None:
        add(row.accepted_at, Metric.ACCEPTED)
    if closed is not None and row.status in _CLOSED:
        add(closed, _CLOSED[row.status])
        if row.status in _BY_REASON:
            add(closed, _BY_REASON[row.status], row.status_reason or "")
    if requested is not None:
        # "In progress" at a quarter's end: sent by then and not yet closed. A task closed before it was sent
        # (never, but the SQL allows it) is open at no quarter's end, so its -1 lands on the +1.
        add(requested, OPEN_DELTA)
        if closed is not None:
            add(max(_utc(requested), _utc(closed)), OPEN_DELTA, n=-1)
    _add_first_contact(row, dialect, add)
    if row.status == TaskStatus.COMPLETED.value and closed is not None:
        for measure, column in _OUTCOME_COLUMNS.items():
            if getattr(row, column) == MeasureResult.IMPROVED.value:
                add(closed, Metric.IMPROVED, measure.value)
    return found


def task_rows_statement(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The rows contributions are computed from, for the tasks matching the condition."""
    return (
        sa.select(*_ROW_COLUMNS)
        .select_from(
            _tasks.outerjoin(_victims, _victims.c.id == _tasks.c.victim_id)
            .outerjoin(_consents, _consents.c.id == _tasks.c.consent_id)
            .outerjoin(_outcomes, _outcomes.c.task_id == _tasks.c.id)
        )
        .where(where)
    )


def contributions(connection: Connection, task_ids: Sequence[int]) -> Contribution:
    """The summed contributions of these tasks as the transaction sees them now."""
    total: Contribution = Counter()
    dialect = connection.dialect.name
    for start in range(0, len(task_ids), 500):
        chunk = list(task_ids[start : start + 500])
        for row in connection.execute(task_rows_statement(_tasks.c.id.in_(chunk))):
            total.update(contribution(row, dialect))
    return total


def apply_delta(connection: Connection, delta: Contribution) -> None:
    """Add each change to its cell in one statement per cell, in key order so two writers lock alike."""
    changes = [
        {"provider_organisation_id": p, "period": period, "metric": metric, "category": category, "count": n}
        for (p, period, metric, category), n in sorted(delta.items())
        if n != 0
    ]
    if not changes:
        return
    insert = postgresql_insert(_rollup) if connection.dialect.name == "postgresql" else sqlite_insert(_rollup)
    statement = insert.on_conflict_do_update(
        index_elements=["provider_organisation_id", "period", "metric", "category"],
        # Added in the database, never read and written back: concurrent writers to one cell both count.
        set_={"count": _rollup.c.count + insert.excluded.count},
    )
    connection.execute(statement, changes)


def _lock(connection: Connection, where: sa.ColumnElement[bool]) -> list[int]:
    """The tasks matching, locked until the transaction ends, by id so concurrent lockers queue in one order."""
    statement = sa.select(_tasks.c.id).where(where).order_by(_tasks.c.id).with_for_update(of=_tasks)
    return [int(task_id) for task_id in connection.execute(statement).scalars()]


def _difference(after: Contribution, before: Contribution) -> Contribution:
    delta: Contribution = Counter(after)
    delta.subtract(before)
    return delta


# -- the hooks -----------------------------------------------------------------------------------------------------

_PENDING = "delivery_rollup_pending"


@dataclass
class _Touched:
    """The tasks this transaction has changed so far, and what they contributed before its first change to each."""

    ids: set[int] = field(default_factory=set)
    before: Contribution = field(default_factory=Counter)
    new_tasks: list[ReferralTask] = field(default_factory=list)


def _touched(session: Session) -> _Touched:
    found = session.info.get(_PENDING)
    if found is None:
        found = session.info[_PENDING] = _Touched()
    return found


def _touch(connection: Connection, touched: _Touched, where: sa.ColumnElement[bool]) -> None:
    """Lock the matching tasks and, for each seen for the first time in this transaction, read its contribution."""
    fresh = [task_id for task_id in _lock(connection, where) if task_id not in touched.ids]
    if fresh:
        touched.before.update(contributions(connection, fresh))
        touched.ids.update(fresh)


def _touched_by_objects(session: Session) -> tuple[set[int], list[ReferralTask]]:
    """Existing task ids whose contribution the pending flush may change, and tasks new in it."""
    ids: set[int] = set()
    new_tasks: list[ReferralTask] = []
    victims: set[int] = set()
    consents: set[int] = set()
    for instance in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(instance, ReferralTask):
            if instance.id is None:
                new_tasks.append(instance)
            else:
                ids.add(instance.id)
        elif isinstance(instance, OutcomeRecord):
            ids.add(instance.task_id)
        elif isinstance(instance, Victim) and instance.id is not None:
            victims.add(instance.id)
        elif isinstance(instance, Consent) and instance.id is not None:
            consents.add(instance.id)
    if victims or consents:
        connection = session.connection()
        ids.update(
            connection.execute(
                sa.select(_tasks.c.id).where(
                    sa.or_(_tasks.c.victim_id.in_(list(victims)), _tasks.c.consent_id.in_(list(consents)))
                )
            ).scalars()
        )
    return ids, new_tasks


def before_flush(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """Before objects are written: lock the tasks they touch and note what those contributed."""
    with session.no_autoflush:
        ids, new_tasks = _touched_by_objects(session)
        if not ids and not new_tasks:
            return
        touched = _touched(session)
        fresh = sorted(ids - touched.ids)
        if fresh:
            _touch(session.connection(), touched, _tasks.c.id.in_(fresh))
        # A task new in this flush contributed nothing before it: its id is known once written.
        touched.new_tasks.extend(new_tasks)


def _statement_tasks(table: sa.Table, where: sa.ColumnElement[bool] | None) -> sa.ColumnElement[bool] | None:
    """Which tasks an UPDATE or DELETE on a watched table touches, as a condition on tasks (None: none)."""
    condition = where if where is not None else sa.true()
    if table.name == _tasks.name:
        return condition
    if table.name == _outcomes.name:
        return _tasks.c.id.in_(sa.select(_outcomes.c.task_id).where(condition).scalar_subquery())
    if table.name == _victims.name:
        return _tasks.c.victim_id.in_(sa.select(_victims.c.id).where(condition).scalar_subquery())
    if table.name == _consents.name:
        return _tasks.c.consent_id.in_(sa.select(_consents.c.id).where(condition).scalar_subquery())
    return None


_WATCHED = frozenset(t.name for t in (_tasks, _victims, _consents, _outcomes))


def do_orm_execute(state: ORMExecuteState) -> None:
    """Before an UPDATE or DELETE through the session: lock the tasks it may touch and note what they contributed."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    statement = state.statement
    table = getattr(statement, "table", None)
    if not isinstance(table, sa.Table) or table.name not in _WATCHED:
        return
    if state.is_insert:
        # Rows are only ever created as objects (seen by the flush); an INSERT here would go uncounted.
        if table.name in (_tasks.name, _outcomes.name):
            raise RuntimeError("insert tasks and outcome records as objects, so the delivery rollup sees them")
        return
    where = _statement_tasks(table, getattr(statement, "whereclause", None))
    if where is not None:
        _touch(state.session.connection(), _touched(state.session), where)


_DATES = ("requested_at", "accepted_at", "closed_at", "first_contact_at")


def _written_without_dates(task: ReferralTask) -> bool:
    """Whether a task new in this transaction is known, without reading it, to contribute nothing: every count
    needs one of its dates. Its row is what the insert wrote (a later change through the session puts it among
    the touched tasks, which are read whatever this says), as loaded on the object; an attribute not loaded there
    (expired, say) is not known, and the row is read."""
    loaded = sa.inspect(task).dict
    return all(name in loaded and loaded[name] is None for name in _DATES)


def before_commit(session: Session) -> None:
    """Add what the transaction's tasks contribute now, less what they did before it, to the rollup: at the end,
    so the rollup's rows (which every writer to a provider's quarter shares) are locked only while committing."""
    if session.new or session.dirty or session.deleted:
        session.flush()  # objects still waiting are written first, so they are counted
    touched = session.info.pop(_PENDING, None)
    if touched is None:
        return
    new_ids = {t.id for t in touched.new_tasks if t.id is not None and not _written_without_dates(t)}
    ids = sorted(touched.ids | new_ids)
    if not ids:
        return
    connection = session.connection()
    apply_delta(connection, _difference(contributions(connection, ids), touched.before))


def after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    """A whole transaction rolled back changed nothing. A savepoint's rollback needs nothing either: each task's
    count is read again at commit, and its "before" was read ahead of any change the savepoint undid."""
    if not previous.nested and previous.parent is None:
        session.info.pop(_PENDING, None)


# -- the rebuild ---------------------------------------------------------------------------------------------------


def _rebuild(connection: Connection) -> int:
    if connection.dialect.name == "postgresql":
        # Task writers wait while the table is rebuilt; a victim's or outcome's writer waits at its upsert, and
        # then adds its change to the rebuilt figures, which did not include it.
        connection.execute(sa.text("LOCK TABLE referral_tasks IN SHARE MODE"))
        connection.execute(sa.text("LOCK TABLE delivery_rollup IN EXCLUSIVE MODE"))
    connection.execute(_rollup.delete())
    total: Contribution = Counter()
    dialect = connection.dialect.name
    tasks = 0
    rows = connection.execute(task_rows_statement(sa.true()).execution_options(yield_per=20_000))
    for row in rows:
        total.update(contribution(row, dialect))
        tasks += 1
    apply_delta(connection, total)
    return tasks


async def rebuild_rollup(*, db: AsyncSession) -> int:
    """The whole rollup again from every task, in the caller's transaction; returns how many tasks were read."""
    connection = await db.connection()
    return await connection.run_sync(_rebuild)
