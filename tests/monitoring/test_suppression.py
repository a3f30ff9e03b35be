"""Small numbers never reach the Commissioner, and a hidden count cannot be worked back from the totals."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from datetime import timedelta

from gateway.db import AsyncSession
from gateway.monitoring.export import render_csv
from gateway.monitoring.service import Count, MonitoringRow, monitoring_report, quarterly_return
from gateway.monitoring.suppression import Sum, exposed, primary, protect
from gateway.referrals.models import RejectReason
from gateway.referrals.service import reject_task
from tests.support.casework import YEAR_START, Clock, commissioner, sent_task, supported_case
from tests.support.domain import World, key


def _counts(value: object) -> Iterator[Count]:
    """Every Count anywhere inside a report, however deep."""
    if isinstance(value, Count):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _counts(getattr(value, item.name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _counts(item)


def _row(rows: tuple[MonitoringRow, ...], provider: str | None, period: str | None) -> MonitoringRow:
    return next(r for r in rows if r.provider_slug == provider and r.period == period)


def test_primary_hides_one_to_four_and_never_zero() -> None:
    cells = {"a": 0, "b": 1, "c": 4, "d": 5, "e": 40}

    assert primary(cells, threshold=4) == {"b", "c"}


def test_a_lone_hidden_cell_gets_the_smallest_non_zero_companion_never_a_zero() -> None:
    # Given a total of 23 made of 3 (hidden), 0, 20 and 25... the smallest non-zero other is 20
    cells = {"total": 48, "small": 3, "zero": 0, "twenty": 20, "twenty-five": 25}
    sums = [Sum("total", ("small", "zero", "twenty", "twenty-five"))]

    hidden = protect(cells, sums, primary(cells, threshold=4))

    assert hidden == {"small", "twenty"}
    assert exposed(sums, hidden) == set()


def test_secondary_suppression_follows_rows_and_columns_until_nothing_is_alone() -> None:
    # Given a two-by-two table with margins, where one inner cell is small:
    #            q1   q2 | all
    #   cpn       3   10 |  13
    #   rj       12   15 |  27
    #   all      15   25 |  40
    cells = {
        ("cpn", 1): 3, ("cpn", 2): 10, ("cpn", None): 13,
        ("rj", 1): 12, ("rj", 2): 15, ("rj", None): 27,
        (None, 1): 15, (None, 2): 25, (None, None): 40,
    }  # fmt: skip
    sums = [
        *(Sum((p, None), ((p, 1), (p, 2))) for p in ("cpn", "rj", None)),
        *(Sum((None, q), (("cpn", q), ("rj", q))) for q in (1, 2, None)),
    ]

    hidden = protect(cells, sums, primary(cells, threshold=4))

    # Then the small cell's row and column each hide a second cell, and those in turn are covered
    assert hidden == {("cpn", 1), ("cpn", 2), ("rj", 1), ("rj", 2)}
    assert exposed(sums, hidden) == set()


def test_a_non_zero_companion_is_taken_before_a_zero() -> None:
    cells = {"total": 7, "small": 3, "zero": 0}
    sums = [Sum("total", ("small", "zero"))]

    assert protect(cells, sums, {"small"}) == {"small", "total"}


async def test_a_crafted_quarter_hides_small_counts_and_their_companions(
    db: AsyncSession, world: World, clock: Clock
) -> None:
    # Given, in 2025-Q1, three CPN cases and ten RJ cases completed, and two RJ referrals rejected
    for index in range(3):
        await supported_case(
            db,
            world,
            clock,
            provider="cpn",
            sent_at=YEAR_START + timedelta(days=index),
            contact_after=timedelta(hours=3),
        )
    for index in range(10):
        await supported_case(
            db,
            world,
            clock,
            provider="rj-hub",
            sent_at=YEAR_START + timedelta(days=index),
            contact_after=timedelta(hours=30),
        )
    for index in range(2):
        task = await sent_task(db, world, clock, provider="rj-hub", sent_at=YEAR_START + timedelta(days=20 + index))
        assert task.id is not None
        await reject_task(
            db=db,
            actor=world.caseworker("rj-hub"),
            task_id=task.id,
            expected_version=task.version,
            reason=RejectReason.NO_CAPACITY,
            idempotency_key=key(),
        )
    await db.commit()

    # When the Commissioner asks for the quarter, the year, and the quarterly return
    quarter = await monitoring_report(db=db, actor=commissioner(world), first_period="2025-Q1", last_period="2025-Q1")
    year = await monitoring_report(db=db, actor=commissioner(world), first_period="2025-Q1", last_period="2025-Q4")
    returned = await quarterly_return(db=db, actor=commissioner(world), period="2025-Q1")

    # Then the CPN's 3 are hidden, the RJ hub's 10 hide with them, and only the total of 13 shows
    cpn, rj, everyone = (_row(quarter.rows, p, "2025-Q1") for p in ("cpn", "rj-hub", None))
    assert cpn.volumes.completed == Count(None, True)
    assert rj.volumes.completed == Count(None, True)
    assert everyone.volumes.completed == Count(13, False)
    assert [o.improved for o in rj.outcomes] == [Count(None, True)] * 4
    assert [o.rate.suppressed for o in cpn.outcomes] == [True] * 4
    assert cpn.cost.suppressed and cpn.first_contact.median_suppressed
    # And the 2 rejections are hidden wherever they appear, with their reason's companions
    assert rj.volumes.rejected == Count(None, True)
    assert everyone.volumes.rejected == Count(None, True)
    assert next(c for c in rj.volumes.rejected_by_reason if c.category == "no-capacity").count == Count(None, True)
    # And no count from 1 to 4 appears anywhere: quarter, year, return or its CSV
    for report in (quarter, year, returned):
        assert [c for c in _counts(report) if c.value is not None and 1 <= c.value <= 4] == []
    header, *lines = csv.reader(io.StringIO(render_csv(returned)))
    by_provider = {line[1]: line[4:] for line in lines}
    assert header[4:] == [
        "referred",
        "supported",
        "improved_informed-and-empowered",
        "improved_health-and-wellbeing",
        "improved_cope-and-recover",
        "improved_feeling-safer",
    ]
    assert by_provider["cpn"] == ["[c]"] * 6
    assert by_provider["rj-hub"] == ["[c]"] * 6
    assert by_provider["total"] == ["15", "13", "13", "13", "13", "13"]
    # And a quarter reads the same in the year's report as on its own
    assert _row(year.rows, "cpn", "2025-Q1") == cpn and _row(year.rows, None, "2025-Q1") == everyone


async def test_victims_who_declined_statistics_count_in_totals_but_not_in_breakdowns(
    db: AsyncSession, world: World, clock: Clock
) -> None:
    # Given six CPN referrals with statistics consent and five without, all in 2025-Q1
    for index in range(11):
        await sent_task(
            db,
            world,
            clock,
            provider="cpn",
            sent_at=YEAR_START + timedelta(days=index),
            statistics_consent=index < 6,
        )
    await db.commit()

    # When the Commissioner looks at the quarter
    report = await monitoring_report(db=db, actor=commissioner(world), first_period="2025-Q1", last_period="2025-Q1")

    # Then all eleven are received, five are declined, and every breakdown counts only the six
    cpn = _row(report.rows, "cpn", "2025-Q1")
    assert (cpn.volumes.received, cpn.equality.statistics_declined) == (Count(11, False), Count(5, False))
    for breakdown in (cpn.equality.age_band, cpn.equality.sex, cpn.equality.ethnicity, cpn.equality.disability):
        assert sum(c.count.value or 0 for c in breakdown) == 6
    assert next(c for c in cpn.equality.age_band if c.category == "25-34").count == Count(6, False)
