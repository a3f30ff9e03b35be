"""The issue-19 benchmark: `retention run` over many tasks on PostgreSQL, and how long it holds anything.

    .venv/bin/python -m bench.retention_benchmark                 # 1,000,000 tasks
    .venv/bin/python -m bench.retention_benchmark --tasks 100000

It loads a year of tasks (financial year 2025/26) with the monitoring benchmark's generator (four tasks a victim,
10% still open, so about one victim in nine is kept), then runs `run_retention` through the real service as of
seven years on. Each transaction the run opens is timed from its session's start to its end: the longest is the
longest any lock of the run was held (row locks and the audit chain's advisory lock are only taken inside one). The
first, which only reads which victims are due, takes no row lock and is reported apart.
Meanwhile a probe does what an API write does, once every 50 ms: a transaction that changes a victim the run will
not erase and appends its audit row (so it queues behind the chain's lock like every request); its slowest answer
shows whether the run stalls the API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa

from bench.monitoring_benchmark import _load_postgres, _organisations, generate
from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit, verify_chain
from gateway.auth.principal import Principal, Scope
from gateway.data_protection.service import RetentionReport, run_retention
from gateway.db import AsyncSession, create_engine, create_session_factory
from gateway.migrate import upgrade
from tests.support.postgres_cluster import PostgresCluster

AS_OF = datetime(2032, 6, 1, tzinfo=UTC)
PROBE_EVERY_S = 0.05


class TimedSessions:
    """A session factory that times each session (one transaction of the run) from opening to closing."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.durations: list[float] = []

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        started = time.perf_counter()
        async with self.factory() as db:
            yield db
        self.durations.append(time.perf_counter() - started)

    def __call__(self) -> Any:
        return self._session()


async def _probe(url: str, victim_id: int, stop: asyncio.Event) -> list[float]:
    """An API-like write with its audit row, again and again until stopped: how long each took."""
    engine = create_engine(url)
    actor = Principal(
        organisation_id=1, organisation_slug="hub", scopes=frozenset({Scope.REFERRALS_WRITE}), client_id="probe"
    )
    timings = []
    try:
        sessions = create_session_factory(engine)
        while not stop.is_set():
            started = time.perf_counter()
            async with sessions() as db:
                await (await db.connection()).execute(
                    sa.text("UPDATE victims SET language = 'probe' WHERE id = :id"), {"id": victim_id}
                )
                await append_audit(
                    db=db,
                    actor=actor,
                    records=[AuditRecord(AuditCategory.ALTERATION, "probe", "benchmark", victim_id=victim_id)],
                )
                await db.commit()
            timings.append(time.perf_counter() - started)
            await asyncio.sleep(PROBE_EVERY_S)
    finally:
        await engine.dispose()
    return timings


async def _kept_victim(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.execute(
                sa.text("SELECT victim_id FROM referral_tasks WHERE status = 'in-progress' ORDER BY id LIMIT 1")
            )
            return int(found.scalar_one())
    finally:
        await engine.dispose()


async def _run(url: str) -> dict[str, Any]:
    kept = await _kept_victim(url)
    engine = create_engine(url)
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(url, kept, stop))
    try:
        timed = TimedSessions(create_session_factory(engine))
        started = time.perf_counter()
        report: RetentionReport = await run_retention(sessions=timed, now=AS_OF)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        stop.set()
        probes = await probe
        async with create_session_factory(engine)() as db:
            broken = await verify_chain(db, batch_size=10000)
    finally:
        stop.set()
        await engine.dispose()
    # The first session only reads which victims are due (no row lock, nothing written): reported apart.
    finding, durations = timed.durations[0], sorted(timed.durations[1:])
    return {
        "seconds": round(elapsed, 1),
        "victims_erased": report.victims,
        "records_erased": report.total,
        "per_kind": {k.value: n for k, n in report.counts.items() if n},
        "finding_due_victims_s": round(finding, 1),
        "transactions": len(durations),
        "transaction_ms_median": round(1000 * durations[len(durations) // 2], 1),
        "transaction_ms_p99": round(1000 * durations[int(len(durations) * 0.99)], 1),
        "longest_transaction_ms": round(1000 * durations[-1], 1),
        "probe_writes": len(probes),
        "probe_ms_median": round(1000 * sorted(probes)[len(probes) // 2], 1) if probes else None,
        "probe_ms_max": round(1000 * max(probes), 1) if probes else None,
        "chain_verifies": broken is None,
    }


def run_postgres(task_count: int) -> dict[str, Any]:
    cluster = PostgresCluster.start()
    try:

        async def create_database() -> None:
            connection = await asyncpg.connect(cluster.admin_dsn)
            try:
                await connection.execute("CREATE DATABASE retention_bench")
            finally:
                await connection.close()

        asyncio.run(create_database())
        url = cluster.url("retention_bench")
        upgrade(url)
        hub, providers = asyncio.run(_organisations(url))
        started = time.perf_counter()
        rows = generate(task_count, hub, providers)
        asyncio.run(_load_postgres(f"postgresql://postgres@127.0.0.1:{cluster.port}/retention_bench", rows))
        loaded = time.perf_counter() - started
        return {"database": "postgresql", "tasks": len(rows.tasks), "victims": len(rows.victims),
                "load_s": round(loaded, 1), **asyncio.run(_run(url))}  # fmt: skip
    finally:
        cluster.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    arguments = parser.parse_args(argv)
    print(json.dumps(run_postgres(arguments.tasks), indent=2))


if __name__ == "__main__":
    main()
