"""The issue-18 benchmark: the Commissioner's overview page for a financial year over many tasks on PostgreSQL.

    .venv/bin/python -m bench.commissioner.overview_benchmark                  # 1,000,000 tasks, 5 timed runs
    .venv/bin/python -m bench.commissioner.overview_benchmark --tasks 200000 --repeat 3

It loads a year of tasks exactly as bench/monitoring_benchmark.py does (a throwaway PostgreSQL cluster, COPY
straight into the tables), rebuilds the delivery rollup from them (COPY goes around the session hooks that keep it;
the rebuild is timed apart), then times what the overview page does for the year 2025/26, in three parts:
the monitoring report through the real service (the SQL counting, then the suppression audit), and the page's
tables rendered from it with the portal's own template. The audit is timed apart, on the same cells, so the
figure says where the time goes. Once, the rollup's figures are checked against the full recomputation from the
tasks (recompute_cells, which the report used before the rollup), and that is timed too. Results are printed and
written to bench/results/commissioner-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.monitoring_benchmark import _load_postgres, _organisations, generate
from gateway.auth.principal import Principal, Scope
from gateway.db import create_engine, create_session_factory
from gateway.migrate import upgrade
from gateway.monitoring.rollup import rebuild_rollup
from gateway.monitoring.service import monitoring_report
from gateway.monitoring.service.access import parse_range
from gateway.monitoring.service.margins import complete_cells, suppress_cells
from gateway.monitoring.service.monitored import list_monitored_providers
from gateway.monitoring.service.queries import count_cells, recompute_cells
from gateway.monitoring.suppression import DEFAULT_THRESHOLD
from gateway.web.commissioner import view
from gateway.web.templating import build_environment
from tests.support.postgres_cluster import PostgresCluster

YEAR = 2025
RESULTS = Path(__file__).resolve().parent.parent / "results"


def _median_ms(timings: Sequence[float]) -> float:
    return round(statistics.median(timings) * 1000, 1)


async def _time_overview(url: str, repeat: int) -> dict[str, Any]:
    actor = Principal(organisation_id=2, organisation_slug="opcc", scopes=frozenset({Scope.MONITORING_READ}))
    environment = build_environment()
    environment.globals["category_label"] = view.category_label
    template = environment.get_template("commissioner/overview.html")
    first, last = view.year_periods(YEAR)
    engine = create_engine(url)
    whole, counting, audit, rendering = [], [], [], []
    try:
        for run in range(repeat + 1):  # the first run warms the pool and the caches; it is not counted
            async with create_session_factory(engine)() as db:
                started = time.perf_counter()
                report = await monitoring_report(db=db, actor=actor, first_period=first, last_period=last)
                reported = time.perf_counter()
                html = template.render(
                    title="Overview",
                    year=YEAR,
                    years=[],
                    lines=view.overview_lines(report),
                    targets=view.target_lines(report),
                    report=report,
                    outcome_labels=view.OUTCOME_LABELS,
                    trends=view.TREND_LABELS,
                    visit=None,
                )
                rendered = time.perf_counter()
                # The parts, again on the same data: the counting statements, then the audit on their cells.
                quarters = parse_range(first, last)
                providers = await list_monitored_providers(db=db)
                counted = time.perf_counter()
                cells, _ = await count_cells(db=db, quarters=quarters)
                counted_end = time.perf_counter()
                complete_cells(cells, [p.organisation_id for p in providers], len(quarters))
                audited = time.perf_counter()
                hidden = suppress_cells(cells, providers, len(quarters), threshold=DEFAULT_THRESHOLD)
                audited_end = time.perf_counter()
            if run:
                whole.append(rendered - started)
                rendering.append(rendered - reported)
                counting.append(counted_end - counted)
                audit.append(audited_end - audited)
        async with create_session_factory(engine)() as db:
            started = time.perf_counter()
            full, full_medians = await recompute_cells(db=db, quarters=parse_range(first, last))
            recomputed = time.perf_counter() - started
            rolled, rolled_medians = await count_cells(db=db, quarters=parse_range(first, last))
    finally:
        await engine.dispose()
    total = next(line for line in view.overview_lines(report) if line.slug is None)
    return {
        "year": f"{first}..{last}",
        "overview_median_ms": _median_ms(whole),
        "overview_best_ms": round(min(whole) * 1000, 1),
        "counting_sql_median_ms": _median_ms(counting),
        "suppression_audit_median_ms": _median_ms(audit),
        "template_median_ms": _median_ms(rendering),
        "recompute_sql_ms": round(recomputed * 1000, 1),
        "rollup_equals_recomputation": rolled == full and rolled_medians == full_medians,
        "cells": len(cells),
        "suppressed_cells": len(hidden),
        "received": total.row.volumes.received.value,
        "page_bytes": len(html),
    }


async def _rebuild(url: str) -> float:
    """The rollup from the loaded tasks, as `gateway report rebuild-rollup` does it; the seconds it took."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            started = time.perf_counter()
            await rebuild_rollup(db=db)
            await db.commit()
            return time.perf_counter() - started
    finally:
        await engine.dispose()


def run(task_count: int, repeat: int) -> dict[str, Any]:
    cluster = PostgresCluster.start()
    try:

        async def create_database() -> None:
            connection = await asyncpg.connect(cluster.admin_dsn)
            try:
                await connection.execute("CREATE DATABASE commissioner_bench")
            finally:
                await connection.close()

        asyncio.run(create_database())
        url = cluster.url("commissioner_bench")
        upgrade(url)
        hub, providers = asyncio.run(_organisations(url))
        started = time.perf_counter()
        rows = generate(task_count, hub, providers)
        asyncio.run(_load_postgres(f"postgresql://postgres@127.0.0.1:{cluster.port}/commissioner_bench", rows))
        loaded = time.perf_counter() - started
        rebuilt = asyncio.run(_rebuild(url))
        measured = asyncio.run(_time_overview(url, repeat))
        return {
            "database": "postgresql",
            "tasks": len(rows.tasks),
            "load_s": round(loaded, 1),
            "rollup_rebuild_s": round(rebuilt, 1),
            **measured,
        }
    finally:
        cluster.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    result = run(args.tasks, args.repeat)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"commissioner-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
