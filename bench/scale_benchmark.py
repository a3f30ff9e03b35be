"""The issue-16 scale benchmarks on PostgreSQL: the inbox on 1 and 2 worker processes, and createReferral's rate.

    .venv/bin/python -m bench.scale_benchmark                       # both parts, 100,000 referrals
    .venv/bin/python -m bench.scale_benchmark --part create --duration 10
    .venv/bin/python -m bench.scale_benchmark --part create --resolvers     # createReferral by the ORM path
    .venv/bin/python -m bench.scale_benchmark --part scale --worker-cpu 0.2   # workers capped: see bench/cpu_cap.py

It reuses bench/inbox_benchmark.py's throwaway cluster, migrations, bulk loader, `serve()` (single-process
uvicorns, one port each) and load driver, with production settings (so the inbox is the compiled read and the audit
sealer runs inside the serving processes, as `gateway serve` runs it). Two measurements:

- **scale-out**: the same inbox load against 1 worker process, then 2; the ratio of their throughputs. While each
  runs, a sampler reads `pg_stat_activity` every 50 ms and counts backends waiting on a lock (`wait_event_type =
  'Lock'`), by wait event, and `pg_locks` for advisory locks: a shared lock would show there.
- **createReferral**: a Hub machine client sends createReferral (victim, case, consent to two providers, so two
  draft tasks; its audit row; drafts write no outbox event until sent, which the count shows) with a fresh
  idempotency key each time, from 16 connections over 2 workers; every answer must be a ReferralPayload.
  Afterwards it waits for the sealer to cover the tail with seals (audit_seals) and reports the longest sealing
  delay and the rows written.

Results are printed and written to bench/results/scale-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import inbox_benchmark as ib
from bench.cpu_cap import capped, throttled_seconds

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
KEY_PLACEHOLDER = "__IDEMPOTENCY_KEY__"
CREATE = """mutation($input: CreateReferralInput!) {
  createReferral(input: $input) { __typename ... on ReferralPayload { referral { id } } ... on OperationError { code } }
}"""


def referral_input() -> dict[str, Any]:
    """A createReferral for an adult victim, with consent to the CPN and the RJ hub: two draft tasks."""
    return {
        "idempotencyKey": KEY_PLACEHOLDER,
        "victim": {
            "givenName": "Bench",
            "familyName": "Example",
            "dateOfBirth": "1980-01-15",
            "address": "1 Example Street, Cambridge",
            "postcode": "CB1 1AA",
            "phone": "07700900001",
            "safeContact": {"safePhone": "07700900002", "voicemailSafe": False},
            "language": "English",
        },
        "case": {
            "arrivalRoute": "OFFICER_NEEDS_ASSESSMENT",
            "reportedToPolice": True,
            "crimeReference": "CC-2026-0001",
            "crimeCategory": "VIOLENCE",
            "domesticAbuseRisk": "NONE",
            "needs": ["MENTAL_HEALTH", "RESTORATIVE_JUSTICE_INTEREST"],
        },
        "consents": [
            {
                "givenBy": "VICTIM",
                "method": "VERBAL",
                "givenAt": "2026-11-20T10:00:00+00:00",
                "providers": ["cpn", "rj-hub"],
                "dataCategories": ["NAME", "PHONE", "SAFE_CONTACT", "CRIME_CATEGORY", "NEEDS"],
                "statisticsConsent": True,
            }
        ],
        "providers": ["cpn", "rj-hub"],
    }


# -- the lock sampler ----------------------------------------------------------------------------------------------


class LockSampler:
    """Counts, every 50 ms, the gateway's backends waiting on a lock and the advisory locks held or awaited."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.samples = 0
        self.lock_waits: Counter[str] = Counter()
        self.advisory = 0
        self.active = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        connection = await asyncpg.connect(self.dsn)
        try:
            while not self._stop.is_set():
                rows = await connection.fetch(
                    "SELECT wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
                )
                self.active += len(rows)
                for row in rows:
                    if row["wait_event_type"] == "Lock":
                        self.lock_waits[str(row["wait_event"])] += 1
                self.advisory += int(
                    await connection.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
                )
                self.samples += 1
                await asyncio.sleep(0.05)
        finally:
            await connection.close()

    def __enter__(self) -> LockSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def report(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "active_backends_seen": self.active,
            "backends_waiting_on_a_lock": sum(self.lock_waits.values()),
            "lock_waits_by_event": dict(self.lock_waits),
            "advisory_locks_seen": self.advisory,
        }


# -- driving createReferral ----------------------------------------------------------------------------------------


async def _drive_unique(config: dict[str, Any]) -> dict[str, Any]:
    """ib._drive's loop, but each request carries a fresh idempotency key (a replay would create nothing)."""
    template = json.dumps(config["body"])
    ports = [int(httpx.URL(base).port or 80) for base in config["base_urls"]]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    begin = time.perf_counter()
    measure_from, stop_at = begin + config["warmup"], begin + config["warmup"] + config["duration"]

    def request_to(port: int) -> bytes:
        body = template.replace(KEY_PLACEHOLDER, uuid.uuid4().hex).encode()
        headers = {"host": f"127.0.0.1:{port}", "content-type": "application/json", **config["headers"]}
        headers["content-length"] = str(len(body))
        head = "POST /graphql HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        return head.encode() + body

    async def client(number: int) -> None:
        port = ports[number % len(ports)]
        connection = ib._Connection("127.0.0.1", port, b"")
        try:
            while (sent := time.perf_counter()) < stop_at:
                connection.request = request_to(port)
                problem = None
                try:
                    status, content = await asyncio.wait_for(connection.send(), timeout=30)
                    if status != 200:
                        problem = f"http {status}"
                    elif b'"ReferralPayload"' not in content:
                        problem = "not created"
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
                    problem = type(error).__name__
                    connection.close()
                if sent >= measure_from:
                    if problem is None:
                        latencies.append(time.perf_counter() - sent)
                    else:
                        errors[problem] += 1
        finally:
            connection.close()

    await asyncio.gather(*(client(n) for n in range(config["concurrency"])))
    elapsed = time.perf_counter() - measure_from
    latencies.sort()

    def percentile(p: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 1) if latencies else None

    return {
        "requests": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": percentile(50),
        "p99_ms": percentile(99),
    }


async def _hub_client(url: str) -> tuple[str, str]:
    from gateway.auth import service as auth
    from gateway.db import create_engine, create_session_factory

    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            created = await auth.add_client(
                db=db, organisation_slug="hub", name="create benchmark", scopes="referrals:read referrals:write"
            )
    finally:
        await engine.dispose()
    assert created.secret is not None
    return created.client.client_id, created.secret


# Unsealed: not chained one by one (`sequence`) and past the last seal's (transaction id, audit id), where the
# sealer (migration 0016) covers rows by insert-only batch seals in audit_seals.
UNSEALED_SQL = """
SELECT count(*) FROM audit_log
WHERE sequence IS NULL AND (transaction_id, id) > (
    COALESCE((SELECT last_transaction_id FROM audit_seals ORDER BY sequence DESC LIMIT 1), 0),
    COALESCE((SELECT last_audit_id FROM audit_seals ORDER BY sequence DESC LIMIT 1), 0))
"""


async def _sealing(dsn: str) -> dict[str, Any]:
    """Waits (at most 60 s) for the sealer to seal every row, then the longest sealing delay and the row counts."""
    connection = await asyncpg.connect(dsn)
    try:
        for _ in range(600):
            if not await connection.fetchval(UNSEALED_SQL):
                break
            await asyncio.sleep(0.1)
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM audit_log) AS rows, (SELECT count(*) FROM audit_seals) AS seals,"
            " (SELECT extract(epoch FROM max(sealed_at - oldest_occurred_at)) FROM audit_seals) AS longest_delay_s"
        )
        referrals = await connection.fetchval("SELECT count(*) FROM referrals")
        events = await connection.fetchval("SELECT count(*) FROM outbox_events")
        unsealed = await connection.fetchval(UNSEALED_SQL)
        return {**dict(row), "unsealed": unsealed, "referrals": referrals, "outbox_events": events}
    finally:
        await connection.close()


def _env(url: str) -> dict[str, str]:
    return {
        "GATEWAY_ENV": "production",
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_ISSUER_URL": ib.ISSUER,
        "GATEWAY_SESSION_SECRET": secrets.token_urlsafe(48),
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_DISPATCH_IN_SERVE": "false",  # deliveries are the notifications benchmark's business
    }


def _token(base: str, client_id: str, secret: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=30
    )
    response.raise_for_status()
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def scale_out(args: argparse.Namespace, url: str, dsn: str, db: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    load = {"concurrency": args.concurrency, "warmup": args.warmup, "duration": args.duration, "max_requests": 10**7}
    for workers in (1, 2):
        log = RESULTS / f"scale-gateway-{workers}.log"
        with ib.serve(
            "bench.inbox_benchmark:gateway_app", workers=workers, env=_env(url), log=log, loop="auto", http="auto"
        ) as (bases, servers):
            headers = _token(bases[0], db["client_id"], db["secret"])
            config = {**load, "path": "/graphql", "body": {"query": ib.INBOX_QUERY}, "headers": headers}
            pids = [server.pid for server in servers]
            cap = capped(pids, args.worker_cpu) if args.worker_cpu else contextlib.nullcontext()
            with cap, LockSampler(dsn) as sampler:
                result = ib._measure(f"scale-{workers}", bases, servers, config, None)
                if args.worker_cpu:
                    result["worker_cpu_cap"] = args.worker_cpu
                    result["throttled_seconds"] = [throttled_seconds(pid) for pid in pids]
            result["locks"] = sampler.report()
        results[f"workers_{workers}"] = result
        print(
            f"inbox on {workers} worker(s): {result['rps']} req/s, p99 {result['p99_ms']} ms, locks {result['locks']}",
            flush=True,
        )
    one, two = results["workers_1"]["rps"], results["workers_2"]["rps"]
    results["ratio_2_to_1"] = round(two / one, 2) if one else None
    return results


def create_rate(args: argparse.Namespace, url: str, dsn: str) -> dict[str, Any]:
    client_id, secret = asyncio.run(_hub_client(url))
    log = RESULTS / "scale-create.log"
    env = _env(url) | ({"GATEWAY_COMPILED_READS": "false"} if args.resolvers else {})
    with ib.serve("bench.inbox_benchmark:gateway_app", workers=2, env=env, log=log, loop="auto", http="auto") as (
        bases,
        _servers,
    ):
        headers = _token(bases[0], client_id, secret)
        config = {
            "base_urls": bases,
            "headers": headers,
            "body": {"query": CREATE, "variables": {"input": referral_input()}},
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "duration": args.duration,
        }
        with LockSampler(dsn) as sampler:
            result = asyncio.run(_drive_unique(config))
        result["locks"] = sampler.report()
        result["sealing"] = asyncio.run(_sealing(dsn))
    print(f"createReferral: {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--part", choices=("all", "scale", "create"), default="all")
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument(
        "--resolvers", action="store_true", help="createReferral by the resolver (ORM) path: compiled statements off"
    )
    parser.add_argument(
        "--worker-cpu",
        type=float,
        default=None,
        help="scale-out only: hold each gateway worker to this fraction of a core (bench/cpu_cap.py; needs root)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.support.postgres_cluster import PostgresCluster

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report: dict[str, Any] = {
        "when": stamp,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "referrals": args.referrals,
        "concurrency": args.concurrency,
        "warmup_seconds": args.warmup,
        "duration_seconds": args.duration,
        "worker_cpu_cap": args.worker_cpu,
        "create_path": "resolvers" if args.resolvers else "compiled",
    }
    cluster = PostgresCluster.start()
    try:
        url, dsn = cluster.url(ib.DATABASE), f"postgresql://postgres@127.0.0.1:{cluster.port}/{ib.DATABASE}"
        db = asyncio.run(ib._prepare_database(cluster.admin_dsn, url, dsn, args.referrals))
        print(f"loaded {args.referrals:,} referrals in {db['load_seconds']} s", flush=True)
        if args.part in ("all", "scale"):
            report["scale_out"] = scale_out(args, url, dsn, db)
        if args.part in ("all", "create"):
            report["create_referral"] = create_rate(args, url, dsn)
    finally:
        cluster.stop()
    out = RESULTS / f"scale-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {out}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
