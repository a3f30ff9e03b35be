"""The issue-4 benchmark: the provider inbox over HTTP against a bare one-query endpoint, on PostgreSQL.

    .venv/bin/python -m bench.inbox_benchmark                  # 100,000 referrals, 16 clients, 5 s warm-up, 25 s
    .venv/bin/python -m bench.inbox_benchmark --duration 10 --referrals 20000 --workers 1

It starts a throwaway PostgreSQL cluster (tests/support/postgres_cluster.py), migrates it, seeds the organisations, a
signing key and one machine client for the provider `cpn`, and bulk-loads the referrals with SQL. Then, one after
the other so they never share the CPU, it serves each of

- the real gateway (`create_app(Settings(...))`, production settings, under uvicorn), called with a real access
  token from its own /oauth/token, asking `inbox(first: 50)` with the victim, consent and contact attempts; and
- a bare Starlette endpoint with no auth and no audit, answering the same question with one hand-written SQL
  query that builds the JSON in PostgreSQL: the practical upper limit,

from `--workers` uvicorn processes (one per core by default), each on its own port with the connections spread
evenly over them, and drives each with the same number of concurrent HTTP/1.1 keep-alive connections for a fixed
time after a warm-up, from a separate process using only asyncio streams (httpx spends milliseconds of CPU per
response, which on a 2-core machine would cap the bare endpoint at the client's speed; httpx still fetches the
token). It prints requests per second, p50/p99 latency and errors for both, and the ratio, and writes them as
JSON under bench/results/. Both servers run on the same event loop and HTTP parser (`--loop`, `--http`; by
default uvloop and httptools, which the gateway depends on). Everything listens on 127.0.0.1 only. `--profile`
records the servers' processes with py-spy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PROVIDERS = ("cpn", "family-action", "rape-crisis", "rj-hub", "road-victims-trust")
BENCH_PROVIDER = "cpn"
ISSUER = "https://gateway.bench.invalid"
DATABASE = "inbox_bench"

INBOX_QUERY = (
    "{ inbox(first: 50) { items { id reference status version overdue "
    "victim { givenName familyName phone safeContact { safePhone } } "
    "consent { state } contactAttempts { method result attemptedAt } } } }"
)

# The same question in one statement: the provider's first 50 sent tasks, oldest first, with the victim's name,
# phone and safe phone, the standing of the newest consent covering the provider, and the contact attempts.
BARE_SQL = """
SELECT json_build_object('data', json_build_object('inbox', json_build_object('items',
         coalesce(json_agg(page.item ORDER BY page.id), '[]'::json))))::text
FROM (
  SELECT t.id, json_build_object(
      'id', t.id::text,
      'reference', t.reference,
      'status', t.status,
      'version', t.version,
      'overdue', array_remove(ARRAY[
          CASE WHEN t.status = 'requested' AND t.accept_due_at < $2 THEN 'accept-overdue' END,
          CASE WHEN t.status IN ('requested', 'accepted', 'in-progress', 'on-hold') AND t.first_contact_at IS NULL
                    AND t.first_contact_due_at < $2 THEN 'first-contact-overdue' END], NULL),
      'victim', CASE WHEN c.id IS NULL
          THEN json_build_object('givenName', NULL, 'familyName', NULL, 'phone', NULL, 'safeContact', NULL)
          ELSE json_build_object('givenName', v.given_name, 'familyName', v.family_name, 'phone', v.phone,
                                 'safeContact', json_build_object('safePhone', v.safe_phone)) END,
      'consent', json_build_object('state', CASE WHEN c.id IS NULL THEN 'withdrawn' ELSE 'valid' END),
      'contactAttempts', coalesce((
          SELECT json_agg(json_build_object('method', a.method, 'result', a.result, 'attemptedAt', a.attempted_at)
                          ORDER BY a.attempted_at, a.id)
          FROM contact_attempts a WHERE a.task_id = t.id), '[]'::json)
    ) AS item
  FROM referral_tasks t
  JOIN victims v ON v.id = t.victim_id
  LEFT JOIN LATERAL (
      SELECT k.id FROM consents k
      WHERE k.victim_id = t.victim_id AND k.withdrawn_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)
        AND k.provider_slugs::jsonb ? t.provider_slug
      ORDER BY k.recorded_at DESC, k.id DESC LIMIT 1) c ON true
  WHERE t.provider_organisation_id = $1 AND t.status <> 'draft'
  ORDER BY t.id
  LIMIT 50
) AS page
"""


# -- the two servers (uvicorn factories; each reads its settings from the environment) ---------------------------


def gateway_app() -> Any:
    """The real gateway, exactly as `gateway serve` builds it."""
    from gateway.app import create_app, settle_heap_for_serving
    from gateway.settings import Settings

    app = create_app(Settings())
    settle_heap_for_serving()
    return app


def bare_app() -> Any:
    """One POST route, no auth, no audit: one SQL statement per request through an asyncpg pool."""
    import asyncpg
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    dsn = os.environ["BENCH_BARE_DSN"]
    provider_id = int(os.environ["BENCH_BARE_PROVIDER_ID"])
    pool: dict[str, asyncpg.Pool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool["main"] = await asyncpg.create_pool(dsn, min_size=4, max_size=16)
        try:
            yield
        finally:
            await pool["main"].close()

    async def inbox(request: Request) -> Response:
        await request.body()  # read like the gateway does; the question is fixed
        async with pool["main"].acquire() as connection:
            text = await connection.fetchval(BARE_SQL, provider_id, datetime.now(UTC))
        return Response(text.encode(), media_type="application/json")

    return Starlette(routes=[Route("/inbox", inbox, methods=["POST"])], lifespan=lifespan)


# -- the database ------------------------------------------------------------------------------------------------


async def seed(url: str) -> tuple[str, str]:
    """Organisations, a signing key and a machine client for the benchmark provider: (client_id, secret)."""
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
                db=db, organisation_slug=BENCH_PROVIDER, name="inbox benchmark", scopes="tasks:read tasks:write"
            )
    finally:
        await engine.dispose()
    assert created.secret is not None
    return created.client.client_id, created.secret


LOAD_SQL = [
    # One victim, case, consent and referral per number; tasks spread over the five providers.
    """
    INSERT INTO victims (id, hub_organisation_id, given_name, family_name, date_of_birth, address, postcode, phone,
        email, safe_phone, safe_times, voicemail_safe, letters_safe, perpetrator_shares_address, language,
        interpreter_needed, created_at, updated_at)
    SELECT g, $1, 'Given' || g, 'Family' || g, DATE '1960-01-01' + (g % 15000), g || ' Example Street, Cambridge',
        'CB' || (g % 9 + 1) || ' ' || (g % 9) || 'AA', '07700' || lpad((g % 1000000)::text, 6, '0'),
        'victim' || g || '@mail.invalid', CASE WHEN g % 3 = 0 THEN '07800' || lpad((g % 1000000)::text, 6, '0') END,
        CASE WHEN g % 3 = 0 THEN 'weekdays 10-12' END, g % 2 = 0, g % 5 <> 0, g % 11 = 0,
        CASE WHEN g % 13 = 0 THEN 'Polish' ELSE 'English' END, g % 13 = 0, now(), now()
    FROM generate_series(1, $2) AS g
    """,
    """
    INSERT INTO cases (id, hub_organisation_id, victim_id, arrival_route, reported_to_police, crime_reference,
        crime_category, domestic_abuse_risk, priority_most_serious_crime, priority_persistently_targeted,
        priority_vulnerable_or_intimidated, needs, assessment_notes, created_at)
    SELECT g, $1, g, 'officer-needs-assessment', g % 7 <> 0, CASE WHEN g % 7 <> 0 THEN 'CC-2026-' || g END,
        (ARRAY['violence', 'domestic-abuse', 'sexual-offence', 'burglary', 'robbery', 'fraud', 'hate-crime',
               'road-collision', 'criminal-damage', 'anti-social-behaviour'])[g % 10 + 1],
        (ARRAY['none', 'standard', 'medium', 'high'])[g % 4 + 1], g % 9 = 0, g % 17 = 0, g % 5 = 0,
        '["mental-health", "emotional", "practical"]'::json, 'Assessment notes for case ' || g, now()
    FROM generate_series(1, $2) AS g
    """,
    # Every consent covers the referral's providers and every data category; about 1% are withdrawn.
    """
    INSERT INTO consents (id, hub_organisation_id, victim_id, given_by, method, given_at, recorded_by, recorded_at,
        provider_slugs, data_categories, statistics_consent, withdrawn_at, withdrawn_by)
    SELECT g, $1, g, 'victim', 'verbal', now() - interval '40 days', 'bench', now() - interval '40 days',
        CASE WHEN g % 4 = 0 THEN json_build_array(($3::text[])[g % 5 + 1], ($3::text[])[(g + 2) % 5 + 1])
             ELSE json_build_array(($3::text[])[g % 5 + 1]) END,
        '["name", "date-of-birth", "age", "address", "phone", "email", "safe-contact", "guardian", "language",
          "crime-category", "crime-reference", "domestic-abuse-risk", "priority-flags", "needs",
          "assessment-notes"]'::json,
        g % 3 <> 0, CASE WHEN g % 97 = 0 THEN now() - interval '2 days' END,
        CASE WHEN g % 97 = 0 THEN 'bench' END
    FROM generate_series(1, $2) AS g
    """,
    """
    INSERT INTO referrals (id, reference, hub_organisation_id, case_id, victim_id, created_by, created_at)
    SELECT g, 'REF-2026-' || lpad(g::text, 6, '0'), $1, g, g, 'bench', now() - interval '40 days'
    FROM generate_series(1, $2) AS g
    """,
]

# The first task of referral g goes to provider g % 5, and every fourth referral has a second one.
TASKS_SQL = """
INSERT INTO referral_tasks (id, reference, referral_id, hub_organisation_id, provider_organisation_id,
    provider_slug, victim_id, case_id, status, status_reason, version, consent_id, safeguarding_override,
    created_at, updated_at, requested_at, accept_due_at, first_contact_due_at, accepted_at, closed_at, viewed_at,
    first_contact_at, appointment_at, waitlisted)
SELECT s.task_id, 'REF-2026-' || lpad(s.g::text, 6, '0') || '-' || s.slug, s.g, $1, s.provider_id, s.slug, s.g,
    s.g, s.status,
    CASE s.status WHEN 'rejected' THEN 'no-capacity' WHEN 'cancelled' THEN 'consent-withdrawn' END,
    CASE s.status WHEN 'draft' THEN 1 WHEN 'requested' THEN 2 ELSE 3 END, s.g, false,
    s.sent - interval '1 hour', s.sent,
    CASE WHEN s.status <> 'draft' THEN s.sent END,
    CASE WHEN s.status <> 'draft' THEN s.sent + interval '2 days' END,
    CASE WHEN s.status <> 'draft' THEN s.sent + interval '48 hours' END,
    CASE WHEN s.status NOT IN ('draft', 'requested', 'rejected', 'cancelled') THEN s.sent + interval '1 day' END,
    CASE WHEN s.status IN ('completed', 'rejected', 'cancelled') THEN s.sent + interval '5 days' END,
    CASE WHEN s.status NOT IN ('draft') THEN s.sent + interval '2 hours' END,
    CASE WHEN s.status IN ('in-progress', 'on-hold', 'completed') THEN s.sent + interval '30 hours' END,
    CASE WHEN s.status = 'in-progress' AND s.g % 2 = 0 THEN s.sent + interval '6 days' END,
    s.status = 'on-hold'
FROM (
  SELECT picked.*, o.id AS provider_id, now() - (picked.g % 720) * interval '1 hour' AS sent,
      CASE WHEN picked.g % 97 = 0 AND picked.bucket > 0 THEN 'cancelled'
           WHEN picked.bucket < 35 THEN 'requested'
           WHEN picked.bucket < 65 THEN 'accepted'
           WHEN picked.bucket < 88 THEN 'in-progress'
           WHEN picked.bucket < 92 THEN 'on-hold'
           WHEN picked.bucket < 96 THEN 'completed'
           WHEN picked.bucket < 98 THEN 'rejected'
           WHEN picked.bucket < 99 THEN 'cancelled'
           ELSE 'draft' END AS status
  FROM (
    SELECT g, g AS task_id, ($3::text[])[g % 5 + 1] AS slug, (g::bigint * 7919) % 100 AS bucket
    FROM generate_series(1, $2) AS g
    UNION ALL
    SELECT g, $2 + g / 4, ($3::text[])[(g + 2) % 5 + 1], (g::bigint * 104729 + 13) % 100
    FROM generate_series(4, $2, 4) AS g
  ) AS picked
  JOIN organisations o ON o.slug = picked.slug
) AS s
"""

# A few attempts on every task the provider has started on; none on drafts, one on some requested tasks.
ATTEMPTS_SQL = """
INSERT INTO contact_attempts (task_id, attempted_at, method, result, recorded_by, created_at)
SELECT t.id, t.requested_at + k * interval '3 hours',
    (ARRAY['phone', 'sms', 'email', 'letter', 'visit'])[(t.id + k) % 5 + 1],
    (ARRAY['no-answer', 'voicemail-left', 'message-sent', 'not-safe-to-talk', 'contact-made'])[(t.id * k) % 5 + 1],
    'bench', now()
FROM referral_tasks t
CROSS JOIN LATERAL generate_series(1, CASE WHEN t.status = 'draft' THEN 0
                                           WHEN t.status = 'requested' THEN t.id % 2
                                           ELSE 1 + t.id % 4 END) AS k
"""


async def load_referrals(dsn: str, count: int) -> dict[str, int]:
    """Bulk-load `count` referrals with set-based SQL in one transaction; returns the row counts."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            hub_id = await connection.fetchval("SELECT id FROM organisations WHERE slug = 'hub'")
            for statement in LOAD_SQL:
                if "$3" in statement:
                    await connection.execute(statement, hub_id, count, list(PROVIDERS))
                else:
                    await connection.execute(statement, hub_id, count)
            await connection.execute(TASKS_SQL, hub_id, count, list(PROVIDERS))
            await connection.execute(ATTEMPTS_SQL)
            for table in ("victims", "cases", "consents", "referrals", "referral_tasks", "contact_attempts"):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608 - our table names
                )
        await connection.execute("VACUUM ANALYZE")
        counts = {}
        for table in ("victims", "cases", "consents", "referrals", "referral_tasks", "contact_attempts"):
            counts[table] = int(await connection.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 - our table names
        counts["provider_visible_tasks"] = int(
            await connection.fetchval(
                "SELECT count(*) FROM referral_tasks WHERE provider_slug = $1 AND status <> 'draft'", BENCH_PROVIDER
            )
        )
        return counts
    finally:
        await connection.close()


# -- serving ----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(
    factory: str, *, workers: int, env: dict[str, str], log: Path, loop: str, http: str
) -> Iterator[tuple[list[str], list[subprocess.Popen[bytes]]]]:
    """`workers` single-process uvicorns on 127.0.0.1, each on its own port; all terminated on exit.

    Not `uvicorn --workers N`: its workers share one listening socket, and whichever accepts first takes every
    connection waiting (asyncio accepts in a loop), so 16 keep-alive connections opened at once can all land on
    one worker and leave the other core idle. The load driver spreads its connections evenly over the ports
    instead, as a round-robin load balancer in front of the workers would.
    """
    ports = [_free_port() for _ in range(workers)]
    processes: list[subprocess.Popen[bytes]] = []
    with log.open("wb") as log_file:
        try:
            for port in ports:
                argv = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1"]
                argv += ["--port", str(port), "--loop", loop, "--http", http]
                argv += ["--no-access-log", "--log-level", "warning"]
                processes.append(
                    subprocess.Popen(  # noqa: S603 - our own interpreter, module and arguments
                        argv, cwd=ROOT, env={**os.environ, **env}, stdout=log_file, stderr=log_file
                    )
                )
            for port, process in zip(ports, processes, strict=True):
                _wait_until_listening(factory, port, process, log)
            yield [f"http://127.0.0.1:{port}" for port in ports], processes
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def _wait_until_listening(factory: str, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{factory} exited with {process.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{factory} did not listen on {port} within 60 s; see {log}")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


# -- load -------------------------------------------------------------------------------------------------------


def drive(config: dict[str, Any]) -> dict[str, Any]:
    """Run the load in a separate process (its own GIL and core share), returning its JSON report."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.inbox_benchmark", "--drive"],
        input=json.dumps(config).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=config["warmup"] + config["duration"] + 120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"load driver failed: {result.stderr.decode()[-2000:]}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


class _Connection:
    """One keep-alive HTTP/1.1 connection sending the same request: a client far cheaper than the server it drives.

    httpx costs milliseconds of CPU per 25 kB response; on a 2-core machine that caps the bare endpoint at what the
    client can parse, so the load uses asyncio streams with the request prebuilt and Content-Length framing.
    """

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ConnectionError("no Content-Length")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def _drive(config: dict[str, Any]) -> dict[str, Any]:
    concurrency = int(config["concurrency"])
    body = json.dumps(config["body"]).encode()
    addresses = [httpx.URL(base) for base in config["base_urls"]]
    assert all(address.host == "127.0.0.1" for address in addresses), "loopback only"

    def request_to(port: int) -> bytes:
        headers = {"host": f"127.0.0.1:{port}", "content-type": "application/json", **config.get("headers", {})}
        headers["content-length"] = str(len(body))
        request = f"POST {config['path']} HTTP/1.1\r\n".encode()
        return request + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n" + body

    latencies: list[float] = []
    errors: Counter[str] = Counter()
    started = 0
    cpu_before = time.process_time()
    begin = time.perf_counter()
    measure_from = begin + float(config["warmup"])
    stop_at = measure_from + float(config["duration"])

    async def client(number: int) -> None:
        nonlocal started
        # Connections go round-robin over the server processes, as a load balancer in front of them would.
        port = int(addresses[number % len(addresses)].port or 80)
        connection = _Connection("127.0.0.1", port, request_to(port))
        try:
            while started < config["max_requests"]:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                started += 1
                problem = None
                try:
                    status, content = await asyncio.wait_for(connection.send(), timeout=30)
                    if status != 200:
                        problem = f"http {status}"
                    elif b'"errors"' in content:
                        problem = "graphql errors"
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as error:
                    problem = type(error).__name__
                    connection.close()
                done = time.perf_counter()
                if sent >= measure_from:
                    if problem is None:
                        latencies.append(done - sent)
                    else:
                        errors[problem] += 1
        finally:
            connection.close()

    await asyncio.wait_for(
        asyncio.gather(*(client(number) for number in range(concurrency))), timeout=float(config["duration"]) + 90
    )
    elapsed = time.perf_counter() - measure_from
    latencies.sort()

    def percentile(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 2)

    return {
        "requests": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": percentile(50),
        "p90_ms": percentile(90),
        "p99_ms": percentile(99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "driver_cpu_seconds": round(time.process_time() - cpu_before, 2),
    }


def _measure(
    name: str,
    bases: list[str],
    servers: list[subprocess.Popen[bytes]],
    config: dict[str, Any],
    profile: Path | None,
) -> dict[str, Any]:
    pids = workers = [server.pid for server in servers]
    spies: list[subprocess.Popen[bytes]] = []
    if profile is not None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        for pid in workers:
            out = profile / f"{name}-{pid}.txt"
            argv = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out), "--rate", "200"]
            argv += ["--duration", str(int(config["warmup"] + config["duration"])), "--nonblocking"]
            spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # noqa: S603
    cpu_before = [_cpu_seconds([pid]) for pid in pids]
    load_before = os.getloadavg()[0]
    report = drive({**config, "base_urls": bases})
    by_process = [round(_cpu_seconds([pid]) - before, 2) for pid, before in zip(pids, cpu_before, strict=True)]
    report["server_cpu_seconds"] = round(sum(by_process), 2)
    # Uneven figures here would mean one process did most of the work while a core stood idle.
    report["server_cpu_seconds_by_process"] = by_process
    # The machine may be shared: a load average above its CPU count means other work took part of the CPU.
    report["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    report["server_processes"] = len(workers)
    for spy in spies:
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.terminate()
    return report


# -- the run ----------------------------------------------------------------------------------------------------


def _first_page_check(gateway_body: dict[str, Any], bare_body: dict[str, Any]) -> str:
    """Both endpoints must answer the same question: same tasks, names, consent states and attempt counts."""
    # The gateway shows codes as its GraphQL enums' names; the bare endpoint as the stored values.
    from gateway.consent.service import ConsentState
    from gateway.referrals.models import ContactMethod, ContactResult, TaskStatus
    from gateway.referrals.service import OverdueReason

    def digest(body: dict[str, Any], name: Any) -> list[tuple[Any, ...]]:
        items = body["data"]["inbox"]["items"]
        return [
            (
                item["id"],
                item["reference"],
                name(TaskStatus, item["status"]),
                item["version"],
                tuple(name(OverdueReason, o) for o in item["overdue"]),
                (item["victim"] or {}).get("givenName"),
                ((item["victim"] or {}).get("safeContact") or {}).get("safePhone"),
                name(ConsentState, item["consent"]["state"]),
                tuple(
                    (name(ContactMethod, a["method"]), name(ContactResult, a["result"]))
                    for a in item["contactAttempts"]
                ),
            )
            for item in items
        ]

    gateway_rows = digest(gateway_body, lambda kind, shown: shown)
    bare_rows = digest(bare_body, lambda kind, stored: kind(stored).name)
    if len(gateway_rows) != 50:
        return f"gateway returned {len(gateway_rows)} items, not 50"
    if gateway_rows != bare_rows:
        differing = next(i for i, (a, b) in enumerate(zip(gateway_rows, bare_rows, strict=False)) if a != b)
        return f"answers differ at item {differing}: {gateway_rows[differing]} != {bare_rows[differing]}"
    return "same 50 tasks, victims, consent states and contact attempts"


async def _prepare_database(admin_dsn: str, url: str, dsn: str, referrals: int) -> dict[str, Any]:
    """A fresh database, migrated, seeded and loaded: the client's credentials, row counts and load time."""
    import asyncpg

    from gateway.migrate import upgrade

    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await connection.close()
    await asyncio.to_thread(upgrade, url)
    client_id, secret = await seed(url)
    loading = time.perf_counter()
    counts = await load_referrals(dsn, referrals)
    connection = await asyncpg.connect(dsn)
    try:
        provider_id = int(await connection.fetchval("SELECT id FROM organisations WHERE slug = $1", BENCH_PROVIDER))
    finally:
        await connection.close()
    return {
        "client_id": client_id,
        "secret": secret,
        "counts": counts,
        "load_seconds": round(time.perf_counter() - loading, 1),
        "provider_id": provider_id,
    }


def _bench_gateway(
    args: argparse.Namespace, url: str, db: dict[str, Any], load: dict[str, Any], profile: Path | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    env = {
        "GATEWAY_ENV": "production",
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_ISSUER_URL": ISSUER,
        "GATEWAY_SESSION_SECRET": secrets.token_urlsafe(48),
        "GATEWAY_LOG_LEVEL": args.log_level,
    }
    factory, log = "bench.inbox_benchmark:gateway_app", RESULTS / "gateway-server.log"
    with serve(factory, workers=args.workers, env=env, log=log, loop=args.loop, http=args.http) as (bases, servers):
        base = bases[0]
        token_response = httpx.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(db["client_id"], db["secret"]),
            timeout=30,
        )
        token_response.raise_for_status()
        headers = {"authorization": f"Bearer {token_response.json()['access_token']}"}
        first = httpx.post(f"{base}/graphql", json={"query": INBOX_QUERY}, headers=headers, timeout=30)
        first.raise_for_status()
        if "errors" in first.json():
            raise RuntimeError(f"the inbox query failed: {first.json()['errors']}")
        print(f"gateway: {args.concurrency} clients, {args.warmup} s warm-up, {args.duration} s ...", flush=True)
        config = {**load, "path": "/graphql", "body": {"query": INBOX_QUERY}, "headers": headers}
        result = _measure("gateway", bases, servers, config, profile)
    result["response_bytes"] = len(first.content)
    return result, first.json()


def _bench_bare(
    args: argparse.Namespace, dsn: str, db: dict[str, Any], load: dict[str, Any], profile: Path | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    env = {"BENCH_BARE_DSN": dsn, "BENCH_BARE_PROVIDER_ID": str(db["provider_id"])}
    factory, log = "bench.inbox_benchmark:bare_app", RESULTS / "bare-server.log"
    with serve(factory, workers=args.workers, env=env, log=log, loop=args.loop, http=args.http) as (bases, servers):
        first = httpx.post(f"{bases[0]}/inbox", json={"query": INBOX_QUERY}, timeout=30)
        first.raise_for_status()
        print(f"bare:    {args.concurrency} clients, {args.warmup} s warm-up, {args.duration} s ...", flush=True)
        config = {**load, "path": "/inbox", "body": {"query": INBOX_QUERY}}
        result = _measure("bare", bases, servers, config, profile)
    result["response_bytes"] = len(first.content)
    return result, first.json()


def run(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.support.postgres_cluster import PostgresCluster

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    profile = (RESULTS / f"profile-{stamp}") if args.profile else None
    if profile is not None:
        profile.mkdir()
    load = {
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "duration": args.duration,
        "max_requests": args.max_requests,
    }
    cluster = PostgresCluster.start()
    try:
        print(f"PostgreSQL on 127.0.0.1:{cluster.port} in {cluster.directory}", flush=True)
        url, dsn = cluster.url(DATABASE), f"postgresql://postgres@127.0.0.1:{cluster.port}/{DATABASE}"
        db = asyncio.run(_prepare_database(cluster.admin_dsn, url, dsn, args.referrals))
        counts, load_seconds = db["counts"], db["load_seconds"]
        print(f"loaded {args.referrals:,} referrals in {load_seconds} s: {counts}", flush=True)
        results: dict[str, Any] = {}
        results["gateway"], gateway_page = _bench_gateway(args, url, db, load, profile)
        results["bare"], bare_page = _bench_bare(args, dsn, db, load, profile)
        check = _first_page_check(gateway_page, bare_page)
    finally:
        cluster.stop()

    gateway, bare = results["gateway"], results["bare"]
    ratio = gateway["rps"] / bare["rps"] if bare["rps"] else 0.0
    met = ratio >= 0.25 and gateway["p99_ms"] is not None and gateway["p99_ms"] < 100 and gateway["errors"] == 0
    report = {
        "when": stamp,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "referrals": args.referrals,
        "rows": counts,
        "load_seconds": load_seconds,
        "uvicorn_workers": args.workers,
        "uvicorn_loop": args.loop,
        "uvicorn_http": args.http,
        "concurrency": args.concurrency,
        "warmup_seconds": args.warmup,
        "duration_seconds": args.duration,
        "query": INBOX_QUERY,
        "same_answer": check,
        "gateway": gateway,
        "bare": bare,
        "ratio": round(ratio, 3),
        "target": "ratio >= 0.25 and gateway p99 < 100 ms with no errors",
        "target_met": met,
        "profile": str(profile) if profile else None,
    }
    out = RESULTS / f"inbox-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    _print_summary(report, out)
    return report


def _print_summary(report: dict[str, Any], out: Path) -> None:
    rows = [("gateway /graphql inbox", report["gateway"]), ("bare Starlette + 1 SQL", report["bare"])]
    print()
    print(
        f"{report['referrals']:,} referrals ({report['rows']['referral_tasks']:,} tasks), "
        f"{report['concurrency']} clients, {report['duration_seconds']} s after {report['warmup_seconds']} s warm-up, "
        f"{report['uvicorn_workers']} uvicorn processes "
        f"(--loop {report['uvicorn_loop']} --http {report['uvicorn_http']}), "
        f"{report['machine']['cpus']} CPUs"
    )
    header = f"{'endpoint':<24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} {'requests':>9}"
    print(header)
    print("-" * len(header))
    for name, r in rows:
        print(
            f"{name:<24} {r['rps']:>8.1f} {r['p50_ms'] or 0:>8.1f} {r['p99_ms'] or 0:>8.1f} {r['max_ms'] or 0:>8.1f} "
            f"{r['errors']:>7} {r['requests']:>9}"
        )
    for name, r in rows:
        per_request = r["server_cpu_seconds"] / max(1, r["requests"]) * 1000
        print(
            f"{name:<24} server CPU {r['server_cpu_seconds']:.1f} s (~{per_request:.0f} ms a request incl. warm-up), "
            f"by process {r['server_cpu_seconds_by_process']}, "
            f"load average {r['load_average_1min'][0]} -> {r['load_average_1min'][1]}"
        )
    print(f"ratio gateway/bare: {report['ratio']:.3f} (target >= 0.25, gateway p99 < 100 ms)")
    print(f"target met: {'yes' if report['target_met'] else 'NO'}; answers: {report['same_answer']}")
    print(f"results: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=25.0)
    parser.add_argument("--max-requests", type=int, default=500_000, help="a bound on requests per run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn processes for each server, one port each")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="uvicorn --loop, both")
    parser.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto", help="uvicorn --http, both")
    parser.add_argument("--log-level", default="WARNING", help="the gateway's GATEWAY_LOG_LEVEL")
    parser.add_argument("--profile", action="store_true", help="record each server's workers with py-spy")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)  # the load-driver process
    args = parser.parse_args()
    if args.drive:
        print(json.dumps(asyncio.run(_drive(json.loads(sys.stdin.read())))))
        return
    if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 120 or not 1 <= args.concurrency <= 256:
        parser.error("keep --duration within 1-600 s, --warmup within 0-120 s and --concurrency within 1-256")
    run(args)


if __name__ == "__main__":
    main()
