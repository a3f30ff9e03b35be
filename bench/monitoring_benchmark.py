"""The issue-5 benchmark: the Commissioner's quarterly monitoring query over many tasks.

    .venv/bin/python -m bench.monitoring_benchmark                      # 1,000,000 on PostgreSQL, 100,000 on SQLite
    .venv/bin/python -m bench.monitoring_benchmark --postgres-tasks 200000 --sqlite-tasks 20000 --repeat 3

It starts a throwaway PostgreSQL cluster (tests/support/postgres_cluster.py) and a SQLite file in a temporary directory,
migrates both to head, creates the demo organisations, and bulk-loads a year (financial year 2025/26) of tasks
with their victims, consents, cases, referrals and outcome records straight into the tables (COPY on
PostgreSQL, executemany on SQLite): a benchmark, not a test, so the service layer is bypassed for loading only,
and the delivery rollup the report reads is then rebuilt from the loaded tasks, as `gateway report rebuild-rollup`
does (the load time includes it).
Four tasks share a victim, case and referral. Then it times `monitoring_report` through the real service and
driver for one quarter (2025-Q3) and for the whole year, and prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from gateway.auth.principal import Principal, Scope
from gateway.db import create_engine, create_session_factory
from gateway.migrate import upgrade
from gateway.monitoring.rollup import rebuild_rollup
from gateway.monitoring.service import monitoring_report
from gateway.organisations.service import demo_organisations, ensure_organisation
from providers.registry import all_profiles
from tests.support.postgres_cluster import PostgresCluster

YEAR_START = datetime(2025, 4, 1, tzinfo=UTC)
TASKS_PER_REFERRAL = 4
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65-plus", "under-18", None)
SEXES = ("female", "male", "other", "prefer-not-to-say", None)
ETHNICITIES = ("white", "asian", "black", "mixed", "other", None)
DISABILITIES = ("yes", "no", "prefer-not-to-say", None)
REJECT_REASONS = ("no-capacity", "not-eligible", "out-of-area", "duplicate")
CANCEL_REASONS = ("victim-request", "consent-withdrawn", "referred-elsewhere")
RESULTS = ("improved", "improved", "not-improved", "not-applicable", "not-asked")


@dataclass(frozen=True)
class Rows:
    victims: list[tuple[Any, ...]]
    consents: list[tuple[Any, ...]]
    cases: list[tuple[Any, ...]]
    referrals: list[tuple[Any, ...]]
    tasks: list[tuple[Any, ...]]
    outcomes: list[tuple[Any, ...]]


VICTIM_COLUMNS = [
    "id",
    "hub_organisation_id",
    "given_name",
    "family_name",
    "voicemail_safe",
    "letters_safe",
    "perpetrator_shares_address",
    "interpreter_needed",
    "equality_age_band",
    "equality_sex",
    "equality_ethnicity",
    "equality_disability",
    "created_at",
    "updated_at",
]
CONSENT_COLUMNS = [
    "id",
    "hub_organisation_id",
    "victim_id",
    "given_by",
    "method",
    "given_at",
    "recorded_by",
    "recorded_at",
    "provider_slugs",
    "data_categories",
    "statistics_consent",
]
CASE_COLUMNS = [
    "id",
    "hub_organisation_id",
    "victim_id",
    "arrival_route",
    "reported_to_police",
    "crime_category",
    "domestic_abuse_risk",
    "priority_most_serious_crime",
    "priority_persistently_targeted",
    "priority_vulnerable_or_intimidated",
    "needs",
    "created_at",
]
REFERRAL_COLUMNS = ["id", "reference", "hub_organisation_id", "case_id", "victim_id", "created_by", "created_at"]
TASK_COLUMNS = [
    "id",
    "reference",
    "referral_id",
    "hub_organisation_id",
    "provider_organisation_id",
    "provider_slug",
    "victim_id",
    "case_id",
    "status",
    "status_reason",
    "version",
    "consent_id",
    "safeguarding_override",
    "created_at",
    "updated_at",
    "requested_at",
    "accepted_at",
    "closed_at",
    "first_contact_at",
    "waitlisted",
]
OUTCOME_COLUMNS = [
    "id",
    "task_id",
    "provider_organisation_id",
    "informed_and_empowered",
    "health_and_wellbeing",
    "cope_and_recover",
    "feeling_safer",
    "recorded_by",
    "recorded_at",
]


def generate(task_count: int, hub_id: int, providers: Sequence[tuple[int, str]]) -> Rows:
    """A year of tasks: 70% completed, 8% rejected, 5% cancelled, 7% failed, 10% still open."""
    year = timedelta(days=360)
    victims, consents, cases, referrals, tasks, outcomes = [], [], [], [], [], []
    referral_count = task_count // TASKS_PER_REFERRAL
    for r in range(1, referral_count + 1):
        created = YEAR_START + year * (r / referral_count)
        victims.append(
            (r, hub_id, "Bench", "Victim", False, False, False, False, AGE_BANDS[r % 8], SEXES[r % 5],
             ETHNICITIES[r % 6], DISABILITIES[r % 4], created, created)
        )  # fmt: skip
        consents.append(
            (r, hub_id, r, "victim", "verbal", created, "bench", created, json.dumps([p[1] for p in providers]),
             json.dumps(["name"]), r % 10 != 0)
        )  # fmt: skip
        cases.append(
            (r, hub_id, r, "officer-needs-assessment", True, "violence", "none", False, False, False, "[]", created)
        )
        referrals.append((r, f"REF-BENCH-{r:08d}", hub_id, r, r, "bench", created))
        for k in range(TASKS_PER_REFERRAL):
            t = (r - 1) * TASKS_PER_REFERRAL + k + 1
            provider_id, slug = providers[t % len(providers)]
            requested = created + timedelta(minutes=k)
            kind = t % 100
            status, reason, accepted, contact, closed = "completed", None, None, None, None
            if kind < 8:
                status, reason, closed = "rejected", REJECT_REASONS[t % 4], requested + timedelta(hours=20)
            else:
                accepted = requested + timedelta(hours=2)
                contact = requested + timedelta(hours=1 + (t * 7) % 90)
                if kind < 13:
                    status, reason, closed = "cancelled", CANCEL_REASONS[t % 3], requested + timedelta(days=3)
                elif kind < 20:
                    status, reason, closed, contact = "failed", "unable-to-contact", requested + timedelta(days=9), None
                elif kind < 30:
                    status = "in-progress"
                else:
                    closed = requested + timedelta(days=20)
            tasks.append(
                (t, f"REF-BENCH-{r:08d}-{k}", r, hub_id, provider_id, slug, r, r, status, reason, 3, r, False,
                 requested, requested, requested, accepted, closed, contact, False)
            )  # fmt: skip
            if status == "completed":
                outcomes.append(
                    (t, t, provider_id, RESULTS[t % 5], RESULTS[(t // 5) % 5], RESULTS[(t // 25) % 5],
                     RESULTS[(t // 125) % 5], "bench", closed)
                )  # fmt: skip
    return Rows(victims, consents, cases, referrals, tasks, outcomes)


def _tables(rows: Rows) -> Iterator[tuple[str, list[str], list[tuple[Any, ...]]]]:
    yield "victims", VICTIM_COLUMNS, rows.victims
    yield "consents", CONSENT_COLUMNS, rows.consents
    yield "cases", CASE_COLUMNS, rows.cases
    yield "referrals", REFERRAL_COLUMNS, rows.referrals
    yield "referral_tasks", TASK_COLUMNS, rows.tasks
    yield "outcome_records", OUTCOME_COLUMNS, rows.outcomes


async def _organisations(url: str) -> tuple[int, list[tuple[int, str]]]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            ids = {spec.slug: (await ensure_organisation(db=db, spec=spec))[0].id for spec in demo_organisations()}
    finally:
        await engine.dispose()
    hub = ids["hub"]
    assert hub is not None
    return hub, [(int(ids[slug] or 0), slug) for slug in all_profiles()]


async def _load_postgres(dsn: str, rows: Rows) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for table, columns, records in _tables(rows):
            # asyncpg's COPY wants JSON columns as text: json.dumps already made them so.
            await connection.copy_records_to_table(table, records=records, columns=columns)
        for table in ("victims", "consents", "cases", "referrals", "referral_tasks", "outcome_records"):
            await connection.execute(
                "SELECT setval(pg_get_serial_sequence($1, 'id'), (SELECT max(id) FROM " + table + "))",  # noqa: S608
                table,
            )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def _sqlite_value(value: Any) -> Any:
    # The text SQLAlchemy's SQLite DateTime writes, so comparisons with bound datetimes line up.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _load_sqlite(path: Path, rows: Rows) -> None:
    connection = sqlite3.connect(path)
    try:
        for table, columns, records in _tables(rows):
            placeholders = ", ".join("?" for _ in columns)
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",  # noqa: S608
                ([_sqlite_value(v) for v in record] for record in records),
            )
        connection.commit()
        connection.execute("ANALYZE")
    finally:
        connection.close()


async def _rebuild(url: str) -> None:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            await rebuild_rollup(db=db)
            await db.commit()
    finally:
        await engine.dispose()


async def _time_report(url: str, first: str, last: str, repeat: int) -> dict[str, Any]:
    actor = Principal(organisation_id=2, organisation_slug="opcc", scopes=frozenset({Scope.MONITORING_READ}))
    engine = create_engine(url)
    timings = []
    try:
        for _ in range(repeat + 1):  # the first run warms the connection pool and caches; it is not counted
            async with create_session_factory(engine)() as db:
                started = time.perf_counter()
                report = await monitoring_report(db=db, actor=actor, first_period=first, last_period=last)
                timings.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    everyone = next(
        r for r in report.rows if r.provider_slug is None and r.period == (first if first == last else None)
    )
    return {
        "periods": f"{first}..{last}",
        "median_s": round(statistics.median(timings[1:]), 3),
        "min_s": round(min(timings[1:]), 3),
        "received": everyone.volumes.received.value,
        "completed": everyone.volumes.completed.value,
    }


async def _measure(url: str, repeat: int) -> list[dict[str, Any]]:
    return [
        await _time_report(url, "2025-Q3", "2025-Q3", repeat),
        await _time_report(url, "2025-Q1", "2025-Q4", repeat),
    ]


def run_postgres(task_count: int, repeat: int) -> dict[str, Any]:
    cluster = PostgresCluster.start()
    try:

        async def create_database() -> None:
            connection = await asyncpg.connect(cluster.admin_dsn)
            try:
                await connection.execute("CREATE DATABASE monitoring_bench")
            finally:
                await connection.close()

        asyncio.run(create_database())
        url = cluster.url("monitoring_bench")
        upgrade(url)
        hub, providers = asyncio.run(_organisations(url))
        started = time.perf_counter()
        rows = generate(task_count, hub, providers)
        asyncio.run(_load_postgres(f"postgresql://postgres@127.0.0.1:{cluster.port}/monitoring_bench", rows))
        asyncio.run(_rebuild(url))
        loaded = time.perf_counter() - started
        return {"database": "postgresql", "tasks": len(rows.tasks), "load_s": round(loaded, 1),
                "runs": asyncio.run(_measure(url, repeat))}  # fmt: skip
    finally:
        cluster.stop()


def run_sqlite(task_count: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="monitoring-bench-") as directory:
        path = Path(directory) / "bench.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        hub, providers = asyncio.run(_organisations(url))
        started = time.perf_counter()
        rows = generate(task_count, hub, providers)
        _load_sqlite(path, rows)
        asyncio.run(_rebuild(url))
        loaded = time.perf_counter() - started
        return {"database": "sqlite", "tasks": len(rows.tasks), "load_s": round(loaded, 1),
                "runs": asyncio.run(_measure(url, repeat))}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-tasks", type=int, default=1_000_000)
    parser.add_argument("--sqlite-tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    for result in (run_postgres(args.postgres_tasks, args.repeat), run_sqlite(args.sqlite_tasks, args.repeat)):
        print(f"{result['database']}: {result['tasks']:,} tasks loaded in {result['load_s']} s")
        for run in result["runs"]:
            print(
                f"  monitoring {run['periods']}: median {run['median_s'] * 1000:.0f} ms, "
                f"best {run['min_s'] * 1000:.0f} ms (received {run['received']:,}, completed {run['completed']:,})"
            )


if __name__ == "__main__":
    main()
