"""Profile createReferral in one process: CPU per request, SQL statements per request, and where the time goes.

    .venv/bin/python -m bench.create_profile                       # 300 requests after 50 warm-up, then cProfile
    .venv/bin/python -m bench.create_profile --requests 500 --no-cprofile --statements
    .venv/bin/python -m bench.create_profile --resolvers --no-cprofile   # the ORM path, compiled statements off

It starts a throwaway PostgreSQL cluster (tests/support/postgres_cluster.py), migrates a fresh database, seeds the
demo organisations, a signing key and a Hub machine client, and builds the gateway with `create_app` and production
settings (as bench/scale_benchmark.py serves it, minus uvicorn). A real token from the gateway's own `/oauth/token`
is then used for N createReferral requests (scale_benchmark's body: victim, case, consent to two providers, two
draft tasks), one at a time through httpx's ASGI transport, each with a fresh idempotency key. It reports:

- CPU ms per request: this process's CPU time (the gateway and the httpx client in it; PostgreSQL runs in its own
  processes and is not counted) over the timed requests, without the profiler;
- the CPU ms of the service call and its commit alone, called directly with a like input (the rest of a request
  is HTTP, the token check and GraphQL);
- SQL statements per request: those the compiled path ran on its own pool (gateway/referrals/compiled/create.py:
  one a request when it answers), and the ORM's, counted by a `before_cursor_execute` listener on the app's engine
  (`--statements` prints one request's ORM statements in order, cut to their first 110 characters);
- a cProfile of the same requests, timed by CPU (waits for PostgreSQL left out): own time per library, and the
  top 25 functions by cumulative and by own time (`--no-cprofile` skips it).

The ASGI transport runs no lifespan, so the audit sealer does not run here: the figures are the request's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import secrets
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from sqlalchemy import event

from bench import scale_benchmark as sb

ROOT = Path(__file__).resolve().parent.parent
ISSUER = "https://gateway.bench.invalid"
DATABASE = "create_profile"


def _body() -> dict[str, Any]:
    variables = {"input": sb.referral_input()}
    variables["input"]["idempotencyKey"] = uuid.uuid4().hex
    return {"query": sb.CREATE, "variables": variables}


async def _seed(url: str) -> tuple[str, str]:
    from gateway.auth import service as auth
    from gateway.auth.keys import ensure_signing_key
    from gateway.db import create_engine, create_session_factory
    from gateway.organisations.service import demo_organisations, ensure_organisation

    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            await ensure_signing_key(db=db)
            for spec in demo_organisations():
                await ensure_organisation(db=db, spec=spec)
            created = await auth.add_client(
                db=db, organisation_slug="hub", name="create profile", scopes="referrals:read referrals:write"
            )
    finally:
        await engine.dispose()
    assert created.secret is not None
    return created.client.client_id, created.secret


class StatementCounter:
    """Counts the statements the app's engine sends; keeps the text of those sent while `recording`."""

    def __init__(self) -> None:
        self.count = 0
        self.recording = False
        self.recorded: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.count += 1
        if self.recording:
            self.recorded.append(" ".join(statement.split())[:110])


def _package(filename: str) -> str:
    """The library (or gateway package) a profiled function's file belongs to."""
    if filename.startswith(("<", "~")):
        return "builtins and C"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if str(path).startswith(str(ROOT)):
        relative = path.relative_to(ROOT).parts
        return "/".join(relative[:2]) if relative[0] == "gateway" and len(relative) > 2 else relative[0]
    return "python stdlib"


def _by_package(profiler: cProfile.Profile) -> dict[str, str]:
    """Own (not cumulative) time per library, as a share of the profiled total."""
    stats = pstats.Stats(profiler)
    totals: Counter[str] = Counter()
    for (filename, _line, _name), (_cc, _nc, own, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        totals[_package(filename)] += own
    whole = sum(totals.values()) or 1.0
    return {name: f"{own * 1000:.0f} ms ({own / whole:.0%})" for name, own in totals.most_common(14)}


async def _service_only(app: Any, client_id: str, requests: int) -> float:
    """CPU ms of create_referral and its commit alone (no HTTP, token or GraphQL), with a like input."""
    from gateway.auth.principal import Principal, Scope
    from gateway.db import create_session_factory
    from gateway.referrals.service import create_referral
    from tests.support.domain import adult_victim, case_input, consent_for

    async with create_session_factory(app.state.engine)() as db:
        hub = await db.scalar(sa.text("SELECT id FROM organisations WHERE slug = 'hub'"))
    actor = Principal(
        organisation_id=int(hub),
        organisation_slug="hub",
        scopes=frozenset({Scope.REFERRALS_READ, Scope.REFERRALS_WRITE}),
        client_id=client_id,
    )
    factory = create_session_factory(app.state.engine)

    async def once() -> None:
        async with factory() as db:
            await create_referral(
                db=db,
                actor=actor,
                victim=adult_victim(),
                case=case_input(),
                consents=[consent_for("cpn", "rj-hub")],
                provider_slugs=["cpn", "rj-hub"],
                idempotency_key=uuid.uuid4().hex,
            )
            await db.commit()

    for _ in range(20):
        await once()
    cpu = time.process_time()
    for _ in range(requests):
        await once()
    return round((time.process_time() - cpu) * 1000 / requests, 2)


async def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from gateway.app import create_app
    from gateway.settings import Settings

    client_id, secret = await _seed(url)
    settings = Settings(
        env="production",
        database_url=url,
        issuer_url=ISSUER,
        session_secret=secrets.token_urlsafe(48),
        log_level="WARNING",
        dispatch_in_serve=False,
        compiled_reads=not args.resolvers,
    )
    app = create_app(settings)
    compiled = app.state.compiled_reads
    counter = StatementCounter()
    event.listen(app.state.engine.sync_engine, "before_cursor_execute", counter)
    report: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
            token = (
                await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
            ).json()["access_token"]
            headers = {"authorization": f"Bearer {token}"}

            async def once() -> None:
                response = await http.post("/graphql", json=_body(), headers=headers)
                if b'"ReferralPayload"' not in response.content:
                    raise SystemExit(f"createReferral failed: {response.status_code} {response.text[:500]}")

            for _ in range(args.warmup):
                await once()
            counter.recording, counter.recorded = True, []
            await once()
            counter.recording = False
            one_request = list(counter.recorded)

            answered = compiled.answered if compiled is not None else 0
            start_count, cpu, wall = counter.count, time.process_time(), time.perf_counter()
            for _ in range(args.requests):
                await once()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            report = {
                "requests": args.requests,
                # The compiled statement runs on its own asyncpg pool, which the engine's listener does not see.
                "compiled_statements_per_request": round(
                    ((compiled.answered if compiled is not None else 0) - answered) / args.requests, 2
                ),
                "orm_statements_per_request": round((counter.count - start_count) / args.requests, 2),
                "cpu_ms_per_request": round(cpu * 1000 / args.requests, 2),
                "wall_ms_per_request": round(wall * 1000 / args.requests, 2),
                "statement_kinds": dict(Counter(s.split(" ")[0] for s in one_request)),
            }
            if args.statements:
                report["one_request"] = one_request
            report["service_and_commit_cpu_ms"] = await _service_only(app, client_id, args.requests)
            if not args.no_cprofile:
                # CPU time, not wall time: waiting for PostgreSQL is not what is being looked for.
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
                for _ in range(args.requests):
                    await once()
                profiler.disable()
                report["own_time_by_package"] = _by_package(profiler)
                if args.dump:
                    profiler.dump_stats(args.dump)
                for order in ("cumulative", "tottime"):
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(25)
                    report[f"profile_{order}"] = out.getvalue()
    finally:
        if app.state.compiled_reads is not None:
            await app.state.compiled_reads.close()
        await app.state.engine.dispose()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--no-cprofile", action="store_true", help="only the CPU and statement figures")
    parser.add_argument("--statements", action="store_true", help="print one request's statements in order")
    parser.add_argument(
        "--resolvers", action="store_true", help="the resolver (ORM) path: compiled statements off, as on SQLite"
    )
    parser.add_argument("--dump", type=Path, help="also write the cProfile stats to this file (for pstats, snakeviz)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("GATEWAY_LOG_LEVEL", "WARNING")
    from gateway.migrate import upgrade
    from tests.support.postgres_cluster import PostgresCluster

    cluster = PostgresCluster.start()
    try:

        async def create_database() -> None:
            connection = await asyncpg.connect(cluster.admin_dsn)
            try:
                await connection.execute(f"CREATE DATABASE {DATABASE}")
            finally:
                await connection.close()

        asyncio.run(create_database())
        url = cluster.url(DATABASE)
        upgrade(url)
        report = asyncio.run(_run(args, url))
    finally:
        cluster.stop()
    for name in ("profile_cumulative", "profile_tottime"):
        if name in report:
            print(report.pop(name))
    statements = report.pop("one_request", None)
    if statements:
        print("one request's statements, in order:")
        for number, statement in enumerate(statements, 1):
            print(f"  {number:2d}. {statement}")
    for name, value in report.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
