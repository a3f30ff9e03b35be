"""The gateway's provider inbox against PostGraphile (v5, optionally v4) and the bare endpoint, side by side.

Same database, same data, same question, same load driver, same settings, interleaved rounds. It reuses the
gateway's own benchmark (`bench/inbox_benchmark.py` in the gateway checkout): its PostgreSQL cluster settings,
migrations, seed and bulk loader (100,000 referrals by default), its `serve()` (one single-process uvicorn per
port), its asyncio-streams load driver (keep-alive HTTP/1.1 connections spread round-robin over the ports) and
its `_measure()`. What it adds: `pg_stat_statements` in the cluster (to count statements per request), the
`peer` schema PostGraphile is pointed at (postgraphile.sql), PostGraphile processes (one per port, like the
uvicorns), a check that every server returns the same page, a wait for an idle machine, interleaved rounds,
PostgreSQL and foreign CPU per run, and a table.

Run with the gateway checkout's interpreter, from that checkout (after `make install-dev` there: the gateway
benchmark imports httpx, a dev dependency; `profile` also needs py-spy in that environment):

    cd <gateway checkout>
    PG5=$(mktemp -d)/pg5 && cp -r ../shared/bench/peer-inbox/pg5 "$PG5" && (cd "$PG5" && npm ci)      # PostGraphile v5, once
    .venv/bin/python ../shared/bench/peer-inbox/peer_inbox.py bench --pg5-dir "$PG5" --no-pg4   # 3 rounds, 25 s each
    .venv/bin/python ../shared/bench/peer-inbox/peer_inbox.py bench --pg5-dir "$PG5" --no-pg4 --rounds 1 --duration 10
    .venv/bin/python ../shared/bench/peer-inbox/peer_inbox.py profile                  # in-process, py-spy

PostGraphile v5 runs on Node 20 only with pg5/node20-polyfill.cjs, which --pg5-dir must contain (the copy above
does). Results go to bench/results/peer/ in the checkout unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEER = HERE
TICK = os.sysconf("SC_CLK_TCK")
PEER_SQL = HERE / "postgraphile.sql"

# The same page as the gateway's INBOX_QUERY: 50 sent tasks of one provider in id order, each with reference,
# status, version, overdue flags, the victim's name, phone and safe phone (only while consent covers the
# provider), the consent state and the contact attempts in time order.
PG5_QUERY = (
    "query Inbox($provider: Int!) { tasks(condition: {providerOrganisationId: $provider}, orderBy: ROW_ID_ASC, "
    "first: 50) { nodes { rowId reference status version overdue "
    "victim { givenName familyName phone safePhone } consentState "
    "contactAttempts(orderBy: [ATTEMPTED_AT_ASC, ROW_ID_ASC]) { nodes { method result attemptedAt } } } } }"
)
PG4_QUERY = (
    "query Inbox($provider: Int!) { tasks(condition: {providerOrganisationId: $provider}, orderBy: ID_ASC, "
    "first: 50) { nodes { id reference status version overdue "
    "victim { givenName familyName phone safePhone } consentState "
    "contactAttempts(orderBy: [ATTEMPTED_AT_ASC, ID_ASC]) { nodes { method result attemptedAt } } } } }"
)


def _gateway_bench() -> Any:
    """The gateway's own benchmark module, from the checkout this runs in."""
    root = Path.cwd()
    if not (root / "bench" / "inbox_benchmark.py").exists():
        sys.exit("run this from the gateway checkout (the directory holding bench/inbox_benchmark.py)")
    sys.path.insert(0, str(root))
    import bench.inbox_benchmark as ib

    return ib


# -- PostgreSQL: the gateway harness's cluster, plus pg_stat_statements ------------------------------------------


def start_cluster() -> Any:
    """tests/postgres_cluster.py's cluster with the same options, plus pg_stat_statements preloaded."""
    from tests.support.postgres_cluster import PostgresCluster, _find_binary, _free_port

    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    run_as = "postgres" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="gateway-peer-pg-"))
    if run_as:
        shutil.chown(directory, "postgres", "postgres")
    cluster = PostgresCluster(directory=directory, port=_free_port(), run_as=run_as)
    data = directory / "data"
    cluster._run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = (
        f"-p {cluster.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
        # Not pg_stat_statements.track here: a command-line setting would outrank the ALTER SYSTEM that turns
        # tracking off for the timed runs.
        "-c shared_preload_libraries=pg_stat_statements"
    )
    cluster._run(pg_ctl, "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start")
    cluster._pg_ctl = pg_ctl
    cluster.postmaster_pid = int((data / "postmaster.pid").read_text().split()[0])
    return cluster


def _proc_cpu(pid: int, children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def pg_cluster_cpu(postmaster: int) -> float:
    """CPU seconds of the whole cluster: live backends and workers, plus those already reaped."""
    total = _proc_cpu(postmaster, children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def box_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK, sum(values[:8]) / TICK


async def _sql(dsn: str, statement: str, *args: Any) -> list[Any]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


async def _execute_script(dsn: str, script: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(script)
    finally:
        await connection.close()


def set_statement_tracking(admin_dsn: str, on: bool) -> None:
    """pg_stat_statements costs a little per statement, and the gateway runs several: off while measuring."""
    value = "top" if on else "none"
    asyncio.run(_execute_script(admin_dsn, f"ALTER SYSTEM SET pg_stat_statements.track = '{value}'"))
    asyncio.run(_sql(admin_dsn, "SELECT pg_reload_conf()"))
    time.sleep(0.5)


def statements_per_request(admin_dsn: str, database: str, send: Any, requests: int) -> dict[str, Any]:
    """Reset pg_stat_statements, send `requests` requests one after the other, and read what ran."""
    asyncio.run(_sql(admin_dsn, "SELECT pg_stat_statements_reset()"))
    for _ in range(requests):
        send()
    time.sleep(0.3)
    rows = asyncio.run(
        _sql(
            admin_dsn,
            "SELECT calls, rows, total_exec_time, query FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) ORDER BY calls DESC, query",
            database,
        )
    )
    statements = [
        {
            "per_request": round(r["calls"] / requests, 2),
            "rows_per_request": round(r["rows"] / requests, 1),
            "exec_ms_per_request": round(r["total_exec_time"] / requests, 3),
            "query": " ".join(r["query"].split()),
        }
        for r in rows
    ]
    return {
        "requests": requests,
        "statements_per_request": round(sum(r["calls"] for r in rows) / requests, 2),
        "exec_ms_per_request": round(sum(r["total_exec_time"] for r in rows) / requests, 3),
        "statements": statements,
    }


def capture_and_explain(cluster: Any, dsn: str, send: Any, explain: bool = True) -> list[dict[str, Any]]:
    """The statements one request runs, with their parameters (from the server log), and EXPLAIN ANALYZE of each
    non-trivial one with the parameters written in as literals (as an unnamed statement is planned)."""
    import re

    log = cluster.directory / "log"
    asyncio.run(_execute_script(cluster.admin_dsn, "ALTER SYSTEM SET log_min_duration_statement = 0"))
    asyncio.run(_sql(cluster.admin_dsn, "SELECT pg_reload_conf()"))
    time.sleep(0.5)
    offset = log.stat().st_size
    send()
    time.sleep(0.5)
    asyncio.run(_execute_script(cluster.admin_dsn, "ALTER SYSTEM RESET log_min_duration_statement"))
    asyncio.run(_sql(cluster.admin_dsn, "SELECT pg_reload_conf()"))
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text)
    found: list[dict[str, Any]] = []
    for record in records:
        statement = re.search(r"duration: [\d.]+ ms\s+(?:execute [^:]*|statement): (.*)", record, re.S)
        if statement and "log_min_duration_statement" not in record and "pg_reload_conf" not in record:
            found.append({"sql": statement.group(1).strip(), "parameters": {}})
        elif statement:
            continue
        elif "DETAIL:  parameters:" in record and found:
            found[-1]["parameters"] = dict(re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", record))
    for item in found:
        if not explain or not item["sql"].lower().lstrip("( ").startswith(("select", "with")) or len(item["sql"]) < 200:
            continue
        sql = item["sql"]
        for number in sorted(item["parameters"], key=int, reverse=True):
            sql = sql.replace(f"${number}", item["parameters"][number])
        try:  # adapted: another process's statement may land in the log window; its plan is not needed
            rows = asyncio.run(_sql(dsn, "EXPLAIN (ANALYZE, BUFFERS) " + sql))
        except Exception as error:  # noqa: BLE001
            item["explain"] = f"(not explained: {type(error).__name__})"
            continue
        item["explain"] = "\n".join(r[0] for r in rows)
    return found


# -- PostGraphile processes ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_graphql(url: str, body: dict[str, Any], process: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(url, json=body, timeout=10).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within 90 s; see {log}")


@contextlib.contextmanager
def serve_node(
    name: str, argv_for: Any, cwd: Path, env: dict[str, str], log: Path, workers: int, probe: dict[str, Any]
) -> Iterator[tuple[list[str], list[subprocess.Popen[bytes]]]]:
    """`workers` Node processes, one port each (Node runs JavaScript on one core), all stopped on exit."""
    ports = [_free_port() for _ in range(workers)]
    processes: list[subprocess.Popen[bytes]] = []
    with log.open("wb") as log_file:
        try:
            for port in ports:
                processes.append(
                    subprocess.Popen(  # noqa: S603
                        argv_for(port), cwd=cwd, env={**os.environ, **env, "PORT": str(port)},
                        stdout=log_file, stderr=log_file,
                    )
                )
            for port, process in zip(ports, processes, strict=True):
                _wait_for_graphql(f"http://127.0.0.1:{port}/graphql", probe, process, log)
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


def pg5_server(args: argparse.Namespace, dsn: str, log: Path, run_dir: Path, provider_id: int) -> Any:
    pg5 = Path(args.pg5_dir).resolve()
    if not (pg5 / "node_modules" / "postgraphile").is_dir():
        sys.exit(f"PostGraphile v5 is not installed in {pg5}: run `npm ci` there")
    # The config imports postgraphile, so it must sit next to a node_modules: a link to pg5's.
    config_dir = run_dir / "pg5-config"
    config_dir.mkdir(exist_ok=True)
    shutil.copy(HERE / "pg5.config.mjs", config_dir / "graphile.config.mjs")
    with contextlib.suppress(FileExistsError):
        (config_dir / "node_modules").symlink_to(pg5 / "node_modules")
    polyfill = pg5 / "node20-polyfill.cjs"

    def argv(port: int) -> list[str]:
        command = ["node"]
        if polyfill.exists():
            command += ["--require", str(polyfill)]
        return command + [str(pg5 / "node_modules/postgraphile/dist/cli-run.js"), "-C",
                          str(config_dir / "graphile.config.mjs")]

    env = {"DATABASE_URL": dsn, "POOL_SIZE": str(args.pool_size), "NODE_ENV": "production"}
    probe = {"query": PG5_QUERY, "variables": {"provider": provider_id}}
    return serve_node("pg5", argv, config_dir, env, log, args.workers, probe)


def pg4_server(args: argparse.Namespace, dsn: str, log: Path, provider_id: int) -> Any:
    pg4 = Path(args.pg4_dir).resolve()
    if not (pg4 / "node_modules" / "postgraphile").is_dir():
        sys.exit(f"PostGraphile v4 is not installed in {pg4}: run `npm ci` there")

    def argv(port: int) -> list[str]:
        return ["node", str(pg4 / "node_modules/postgraphile/cli.js"), "-c", dsn, "--host", "127.0.0.1",
                "--port", str(port), "--schema", "peer", "--append-plugins",
                "@graphile-contrib/pg-simplify-inflector", "--dynamic-json", "--disable-graphiql",
                "--disable-query-log", "--max-pool-size", str(args.pool_size)]

    probe = {"query": PG4_QUERY, "variables": {"provider": provider_id}}
    return serve_node("pg4", argv, pg4, {"NODE_ENV": "production"}, log, args.workers, probe)


# -- answers ------------------------------------------------------------------------------------------------------


def digest(server: str, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One comparable tuple per task, whatever the server's field names and nesting."""
    if server in ("gateway", "bare"):
        items = body["data"]["inbox"]["items"]
        out = []
        for item in items:
            victim = item.get("victim") or {}
            out.append((
                int(item["id"]), item["reference"], item["status"], item["version"], tuple(item["overdue"]),
                victim.get("givenName"), victim.get("familyName"), victim.get("phone"),
                (victim.get("safeContact") or {}).get("safePhone"), item["consent"]["state"],
                tuple((a["method"], a["result"]) for a in item["contactAttempts"]),
            ))
        return out
    items = body["data"]["tasks"]["nodes"]
    key = "rowId" if server == "pg5" else "id"
    out = []
    for item in items:
        victim = item.get("victim") or {}
        out.append((
            int(item[key]), item["reference"], item["status"], item["version"], tuple(item["overdue"] or ()),
            victim.get("givenName"), victim.get("familyName"), victim.get("phone"), victim.get("safePhone"),
            item["consentState"], tuple((a["method"], a["result"]) for a in item["contactAttempts"]["nodes"]),
        ))
    return out


def compare(reference: list[tuple[Any, ...]], other: list[tuple[Any, ...]]) -> dict[str, Any]:
    ids_a, ids_b = [r[0] for r in reference], [r[0] for r in other]
    first_difference = next((i for i, (a, b) in enumerate(zip(reference, other, strict=False)) if a != b), None)
    return {
        "tasks": len(other),
        "same_ids_in_order": ids_a == ids_b,
        "same_id_set": set(ids_a) == set(ids_b),
        "identical_digest": reference == other,
        "first_difference": None if first_difference is None
        else [list(map(str, reference[first_difference])), list(map(str, other[first_difference]))],
    }


# -- the side-by-side run ----------------------------------------------------------------------------------------


def wait_for_idle_machine(threshold: float, max_wait: float) -> dict[str, Any]:
    start = time.monotonic()
    seen = []
    while True:
        load = os.getloadavg()[0]
        seen.append(round(load, 2))
        waited = time.monotonic() - start
        if load < threshold or waited >= max_wait:
            return {"waited_s": round(waited), "load_1min_at_start": round(load, 2), "reached": load < threshold}
        if len(seen) % 6 == 1:
            print(f"  waiting for the 1-minute load average to fall below {threshold}: {load:.2f} "
                  f"({waited:.0f} s of at most {max_wait:.0f} s)", flush=True)
        time.sleep(10)


def speed_probe() -> float:
    """Milliseconds for a fixed pure-Python loop: how fast a core is right now (a shared host varies)."""
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return round(1000 * (time.perf_counter() - start), 1)


def quiesce(admin_dsn: str, max_wait: float = 60.0) -> float:
    """Bounded wait until PostgreSQL runs no client query and the machine is nearly idle between runs."""
    start = time.monotonic()
    sql = ("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
           "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
    while time.monotonic() - start < max_wait:
        active = asyncio.run(_sql(admin_dsn, sql))[0][0]
        b0 = box_busy()
        time.sleep(1.0)
        b1 = box_busy()
        busy = (b1[0] - b0[0]) / max(b1[1] - b0[1], 1e-9)
        if active == 0 and busy < 0.25:
            break
    return time.monotonic() - start


def bench(args: argparse.Namespace) -> None:
    ib = _gateway_bench()
    import httpx

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out).resolve() / stamp
    out.mkdir(parents=True)
    run_dir = Path(tempfile.mkdtemp(prefix="gateway-peer-run-"))
    load = {"concurrency": args.concurrency, "warmup": args.warmup, "duration": args.duration,
            "max_requests": args.max_requests}
    report: dict[str, Any] = {
        "when": stamp, "cpus": os.cpu_count(), "referrals": args.referrals, "concurrency": args.concurrency,
        "warmup_s": args.warmup, "duration_s": args.duration, "server_processes_each": args.workers,
        "postgraphile_pool_per_process": args.pool_size, "uvicorn_loop": args.loop, "uvicorn_http": args.http,
        "queries": {"gateway": ib.INBOX_QUERY, "pg5": PG5_QUERY, "pg4": None if args.no_pg4 else PG4_QUERY,
                    "bare": "one SQL statement (bench/inbox_benchmark.py BARE_SQL)"},
    }
    cluster = start_cluster()
    print(f"PostgreSQL on 127.0.0.1:{cluster.port} (postmaster {cluster.postmaster_pid})", flush=True)
    try:
        url = cluster.url(ib.DATABASE)
        dsn = f"postgresql://postgres@127.0.0.1:{cluster.port}/{ib.DATABASE}"
        db = asyncio.run(ib._prepare_database(cluster.admin_dsn, url, dsn, args.referrals))
        print(f"loaded {args.referrals:,} referrals in {db['load_seconds']} s: {db['counts']}", flush=True)
        asyncio.run(_execute_script(cluster.admin_dsn, "CREATE EXTENSION pg_stat_statements"))
        asyncio.run(_execute_script(dsn, PEER_SQL.read_text()))
        report["rows"], report["load_seconds"], provider_id = db["counts"], db["load_seconds"], db["provider_id"]

        gateway_env = {"GATEWAY_ENV": "production", "GATEWAY_DATABASE_URL": url, "GATEWAY_ISSUER_URL": ib.ISSUER,
                       "GATEWAY_SESSION_SECRET": secrets.token_urlsafe(48), "GATEWAY_LOG_LEVEL": "WARNING",
                       # Adapted: the notification dispatcher's escalation sweep would enqueue an event for every
                       # overdue task of the loaded data on start-up; deliveries have their own benchmark. The audit
                       # sealer stays on: sealing is part of what an audited read costs.
                       "GATEWAY_DISPATCH_IN_SERVE": "false",
                       # Adapted: extra gateway settings for an experiment, e.g. '{"GATEWAY_SEAL_AUDIT_IN_SERVE": "false"}'.
                       **json.loads(os.environ.get("PEER_GATEWAY_ENV", "{}"))}
        bare_env = {"BENCH_BARE_DSN": dsn, "BENCH_BARE_PROVIDER_ID": str(provider_id)}
        with contextlib.ExitStack() as stack:
            servers: dict[str, tuple[list[str], list[Any]]] = {}
            servers["gateway"] = stack.enter_context(ib.serve(
                "bench.inbox_benchmark:gateway_app", workers=args.workers, env=gateway_env,
                log=out / "gateway-server.log", loop=args.loop, http=args.http))
            servers["pg5"] = stack.enter_context(pg5_server(args, dsn, out / "pg5-server.log", run_dir, provider_id))
            if not args.no_pg4:
                servers["pg4"] = stack.enter_context(pg4_server(args, dsn, out / "pg4-server.log", provider_id))
            servers["bare"] = stack.enter_context(ib.serve(
                "bench.inbox_benchmark:bare_app", workers=args.workers, env=bare_env,
                log=out / "bare-server.log", loop=args.loop, http=args.http))
            order = [name for name in ("gateway", "pg5", "pg4", "bare") if name in servers]

            token = httpx.post(f"{servers['gateway'][0][0]}/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(db["client_id"], db["secret"]), timeout=30)
            token.raise_for_status()
            headers = {"authorization": f"Bearer {token.json()['access_token']}"}
            configs = {
                "gateway": {"path": "/graphql", "body": {"query": ib.INBOX_QUERY}, "headers": headers},
                "pg5": {"path": "/graphql", "body": {"query": PG5_QUERY, "variables": {"provider": provider_id}}},
                "pg4": {"path": "/graphql", "body": {"query": PG4_QUERY, "variables": {"provider": provider_id}}},
                "bare": {"path": "/inbox", "body": {"query": ib.INBOX_QUERY}},
            }

            # Same page everywhere? Every process of every server answers once.
            client = httpx.Client(timeout=30)
            answers: dict[str, Any] = {}
            sizes: dict[str, int] = {}
            for name in order:
                for base in servers[name][0]:
                    c = configs[name]
                    response = client.post(base + c["path"], json=c["body"], headers=c.get("headers", {}))
                    response.raise_for_status()
                    if "errors" in response.json():
                        raise RuntimeError(f"{name} answered with errors: {response.json()['errors']}")
                    answers.setdefault(name, response.json())
                    sizes[name] = len(response.content)
                    (out / f"answer-{name}.json").write_bytes(response.content)
            reference = digest("gateway", answers["gateway"])
            report["same_page"] = {name: compare(reference, digest(name, answers[name])) for name in order}
            report["response_bytes"] = sizes
            for name, verdict in report["same_page"].items():
                print(f"  {name:8} {verdict['tasks']} tasks, same ids in order: {verdict['same_ids_in_order']}, "
                      f"identical digest: {verdict['identical_digest']}", flush=True)
                if verdict["tasks"] != 50 or not verdict["same_id_set"]:
                    raise RuntimeError(f"{name} does not return the gateway's page: {verdict}")

            # What each server runs in PostgreSQL per request (sequential requests, pg_stat_statements).
            report["sql"] = {}
            for name in order:
                base, c = servers[name][0][0], configs[name]

                def send(base: str = base, c: dict[str, Any] = c) -> None:
                    client.post(base + c["path"], json=c["body"], headers=c.get("headers", {})).raise_for_status()

                for _ in range(5):
                    send()
                report["sql"][name] = statements_per_request(cluster.admin_dsn, ib.DATABASE, send, args.sql_requests)
                # Every statement of one request as the server log saw it, and the plan of each peer's statement.
                captured = capture_and_explain(cluster, dsn, send, explain=name != "gateway")
                (out / f"sql-{name}.txt").write_text("\n\n".join(
                    f"-- parameters {c['parameters']}\n{c['sql']}\n\n{c.get('explain', '')}" for c in captured))
                report["sql"][name]["logged_statements_one_request"] = len(captured)
                print(f"  {name:8} {report['sql'][name]['statements_per_request']} SQL statements a request, "
                      f"{report['sql'][name]['exec_ms_per_request']} ms executing", flush=True)
            client.close()
            set_statement_tracking(cluster.admin_dsn, on=False)

            report["idle_wait"] = wait_for_idle_machine(args.wait_load, args.wait_max)
            print(f"starting rounds: {report['idle_wait']}", flush=True)
            report["runs"] = []
            for round_number in range(1, args.rounds + 1):
                for name in order:
                    quiet = quiesce(cluster.admin_dsn)
                    probe = speed_probe()
                    bases, processes = servers[name]
                    pg0, box0 = pg_cluster_cpu(cluster.postmaster_pid), box_busy()
                    result = ib._measure(name, bases, processes, {**load, **configs[name]}, None)
                    pg1, box1 = pg_cluster_cpu(cluster.postmaster_pid), box_busy()
                    busy = box1[0] - box0[0]
                    window = (box1[1] - box0[1]) / (os.cpu_count() or 1)
                    ours = result["server_cpu_seconds"] + (pg1 - pg0) + result["driver_cpu_seconds"]
                    result.update({
                        "round": round_number, "server": name, "quiesce_wait_s": round(quiet, 1),
                        "speed_probe_ms_before": probe,
                        "pg_cpu_seconds": round(pg1 - pg0, 2),
                        "box_busy_seconds": round(busy, 2), "window_seconds": round(window, 2),
                        # What the rest of the machine used meanwhile: CPU seconds not ours, and as cores.
                        "foreign_cpu_seconds": round(busy - ours, 2),
                        "foreign_cores": round((busy - ours) / window, 2) if window else None,
                        "server_cpu_ms_per_request": round(1000 * result["server_cpu_seconds"]
                                                           / max(1, result["requests"]), 2),
                        "pg_cpu_ms_per_request": round(1000 * (pg1 - pg0) / max(1, result["requests"]), 2),
                    })
                    report["runs"].append(result)
                    print(f"round {round_number} {name:8} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.1f}  "
                          f"p99 {result['p99_ms']:7.1f} ms  errors {result['errors']}  load "
                          f"{result['load_average_1min'][0]}->{result['load_average_1min'][1]}  foreign "
                          f"{result['foreign_cores']} cores  probe {probe} ms", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(run_dir, ignore_errors=True)

    report["summary"] = summarise(report)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "results.md").write_text(markdown(report))
    print()
    print(markdown(report))
    print(f"results: {out}")


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in dict.fromkeys(r["server"] for r in report["runs"]):
        runs = [r for r in report["runs"] if r["server"] == name]
        summary[name] = {
            key: statistics.median(r[key] for r in runs)
            for key in ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_request", "pg_cpu_ms_per_request")
        }
        summary[name]["errors"] = sum(r["errors"] for r in runs)
    for other in ("pg5", "pg4", "bare"):
        if other in summary and summary[other]["rps"]:
            summary[f"ratio_gateway_to_{other}"] = round(summary["gateway"]["rps"] / summary[other]["rps"], 3)
    return summary


def markdown(report: dict[str, Any]) -> str:
    label = {"gateway": "gateway /graphql", "pg5": "PostGraphile 5", "pg4": "PostGraphile 4", "bare": "bare 1-SQL"}
    lines = [
        f"{report['referrals']:,} referrals, {report['concurrency']} connections, {report['warmup_s']} s warm-up + "
        f"{report['duration_s']} s, {report['server_processes_each']} processes per server, {report['cpus']} CPUs, "
        f"started at 1-min load {report['idle_wait']['load_1min_at_start']} after {report['idle_wait']['waited_s']} s",
        "",
        "| round | server | req/s | p50 ms | p99 ms | errors | srv CPU ms/req | PG CPU ms/req | load 1m before→after "
        "| foreign cores | speed probe ms |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['round']} | {label[r['server']]} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['errors']} | {r['server_cpu_ms_per_request']:.2f} | {r['pg_cpu_ms_per_request']:.2f} | "
            f"{r['load_average_1min'][0]}→{r['load_average_1min'][1]} | {r['foreign_cores']} | "
            f"{r['speed_probe_ms_before']} |"
        )
    for name, s in report["summary"].items():
        if isinstance(s, dict):
            lines.append(f"| median | {label[name]} | {s['rps']:.1f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | "
                         f"{s['errors']} | {s['server_cpu_ms_per_request']:.2f} | {s['pg_cpu_ms_per_request']:.2f} "
                         "| | | |")
    lines.append("")
    for key, value in report["summary"].items():
        if key.startswith("ratio"):
            lines.append(f"- {key.replace('_', ' ')}: {value}")
    lines.append("")
    for name, sql in report["sql"].items():
        lines.append(f"- {label[name]}: {sql['statements_per_request']} SQL statements per request "
                     f"({sql['exec_ms_per_request']} ms executing in PostgreSQL)")
    return "\n".join(lines) + "\n"


# -- the in-process profile of one gateway inbox request ---------------------------------------------------------


class _Asgi:
    """The least an ASGI server does for one HTTP request, so the profile holds the app and not a client."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw_headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": raw_headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }
        sent = False
        status, chunks = 0, []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def profile(args: argparse.Namespace) -> None:
    ib = _gateway_bench()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out).resolve() / f"profile-{stamp}"
    out.mkdir(parents=True)
    cluster = start_cluster()
    print(f"PostgreSQL on 127.0.0.1:{cluster.port}", flush=True)
    try:
        url = cluster.url(ib.DATABASE)
        db = asyncio.run(ib._prepare_database(cluster.admin_dsn, url,
                                              f"postgresql://postgres@127.0.0.1:{cluster.port}/{ib.DATABASE}",
                                              args.referrals))
        asyncio.run(_execute_script(cluster.admin_dsn, "CREATE EXTENSION pg_stat_statements"))
        print(f"loaded {args.referrals:,} referrals in {db['load_seconds']} s", flush=True)
        os.environ.update({"GATEWAY_ENV": "production", "GATEWAY_DATABASE_URL": url, "GATEWAY_ISSUER_URL": ib.ISSUER,
                           "GATEWAY_SESSION_SECRET": secrets.token_urlsafe(48), "GATEWAY_LOG_LEVEL": "WARNING", "GATEWAY_DISPATCH_IN_SERVE": "false"})
        if args.loop == "uvloop":
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        result = asyncio.run(_profile(ib, db, cluster, args, out))
    finally:
        cluster.stop()
    (out / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out}")


async def _profile(ib: Any, db: dict[str, Any], cluster: Any, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import base64

    import orjson

    app = ib.gateway_app()  # create_app(Settings()) and the heap settled, as `gateway serve` does
    client = _Asgi(app)
    basic = base64.b64encode(f"{db['client_id']}:{db['secret']}".encode()).decode()
    status, token_body = await client.post(
        "/oauth/token", b"grant_type=client_credentials",
        {"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"},
    )
    assert status == 200, token_body
    headers = {"content-type": "application/json",
               "authorization": f"Bearer {orjson.loads(token_body)['access_token']}"}
    body = orjson.dumps({"query": ib.INBOX_QUERY})

    async def one() -> bytes:
        status, content = await client.post("/graphql", body, headers)
        assert status == 200 and b'"errors"' not in content, content[:300]
        return content

    for _ in range(args.warm):
        await one()
    dsn = f"postgresql://postgres@127.0.0.1:{cluster.port}/{ib.DATABASE}"
    audit_before = (await _sql(dsn, "SELECT count(*) FROM audit_log"))[0][0]

    # 1. Plain: wall and CPU per request, one at a time, and write/read system calls (each message to PostgreSQL
    #    is a write(2) under uvloop; nothing else writes in-process), so round trips are counted, not guessed.
    n = args.requests
    io0, cpu0, wall0 = _proc_io(), time.process_time(), time.perf_counter()
    for _ in range(n):
        await one()
    cpu_ms, wall_ms = 1000 * (time.process_time() - cpu0) / n, 1000 * (time.perf_counter() - wall0) / n
    io1 = _proc_io()
    writes, reads = (io1["syscw"] - io0["syscw"]) / n, (io1["syscr"] - io0["syscr"]) / n
    audit_rows = ((await _sql(dsn, "SELECT count(*) FROM audit_log"))[0][0] - audit_before) / n

    # 2. What ran in PostgreSQL per request.
    await _sql(cluster.admin_dsn, "SELECT pg_stat_statements_reset()")
    for _ in range(n):
        await one()
    rows = await _sql(cluster.admin_dsn,
                            "SELECT calls, total_exec_time, query FROM pg_stat_statements WHERE dbid = "
                            "(SELECT oid FROM pg_database WHERE datname = $1) ORDER BY calls DESC, query",
                            ib.DATABASE)
    sql = [{"per_request": round(r["calls"] / n, 2), "exec_ms": round(r["total_exec_time"] / n, 3),
            "query": " ".join(r["query"].split())[:200]} for r in rows]

    # 3. CPU by phase: process_time around the gateway's own entry points. Requests run one at a time, so what
    #    runs while a phase awaits is that request's own work (exact for auth, commit, encoding; the loaders can
    #    overlap a little with field completion).
    phases, phase_walls, restore = _install_phase_timers(app)
    cpu0 = time.process_time()
    for _ in range(n):
        await one()
    timed_cpu_ms = 1000 * (time.process_time() - cpu0) / n
    for undo in restore:
        undo()
    phase_ms = {name: round(1000 * total / n, 3) for name, total in phases.items()}
    phase_wall_ms = {name: round(1000 * total / n, 3) for name, total in phase_walls.items()}

    # Sampled with py-spy (cProfile's accounting breaks across SQLAlchemy's greenlet switches): on-CPU samples of
    # this process only (waiting on PostgreSQL is idle and not sampled), stacks aggregated by function.
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    raw = out / "py-spy.txt"
    spy = subprocess.Popen(  # noqa: S603
        [py_spy, "record", "--pid", str(os.getpid()), "--rate", str(args.rate), "--duration", str(int(args.seconds + 3)),
         "--format", "raw", "--function", "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    await asyncio.sleep(1.5)  # attached
    sampled, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < args.seconds:
        await one()
        sampled += 1
    sampled_cpu_ms = 1000 * (time.process_time() - cpu0) / sampled
    sampled_wall_ms = 1000 * (time.perf_counter() - wall0) / sampled
    _, errors = await asyncio.to_thread(spy.communicate)
    if spy.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed: {errors.decode()[-1000:]}")
    await app.state.engine.dispose()
    profile = analyse_samples(raw)
    subprocess.run(["gzip", "-9", str(raw)], check=True)  # noqa: S603, S607
    result = {
        "requests_timed": n, "loop": args.loop, "wall_ms_per_request": round(wall_ms, 2),
        "cpu_ms_per_request": round(cpu_ms, 2), "audit_rows_per_request": audit_rows,
        "write_syscalls_per_request": writes, "read_syscalls_per_request": reads,
        "phase_cpu_ms_per_request": phase_ms, "phase_wall_ms_per_request": phase_wall_ms,
        "cpu_ms_per_request_with_phase_timers": round(timed_cpu_ms, 2),
        "sql_statements_per_request": round(sum(r["calls"] for r in rows) / n, 2), "sql": sql,
        "sampled_requests": sampled, "sampled_cpu_ms_per_request": round(sampled_cpu_ms, 2),
        "sampled_wall_ms_per_request": round(sampled_wall_ms, 2),
        "samples": profile["samples"], "libraries": profile["libraries"], "segments": profile["segments"],
        "cumulative": profile["cumulative"][:80],
    }
    lines = [
        f"wall {wall_ms:.2f} ms, CPU {cpu_ms:.2f} ms a request unprofiled ({n} requests one at a time); "
        f"{sampled} requests sampled at {sampled_cpu_ms:.2f} ms CPU each",
        f"{result['sql_statements_per_request']} SQL statements a request (pg_stat_statements), "
        f"{audit_rows} audit rows a request; write(2) calls a request {writes:.1f} (messages to PostgreSQL), "
        f"read(2) calls {reads:.1f}",
        *(f"  {r['per_request']:5} x {r['exec_ms']:7.3f} ms  {r['query'][:150]}" for r in sql),
        f"CPU by phase, ms a request ({timed_cpu_ms:.2f} ms a request with the timers in), share, and wall:",
        *(f"  {value:7.3f}  {100 * value / timed_cpu_ms:5.1f}%  wall {phase_wall_ms[name]:7.3f}  {name}"
          for name, value in phase_ms.items()),
        "",
    ]
    text = "\n".join(lines) + "\n" + profile["text"]
    (out / "summary.txt").write_text(text)
    print(text)
    return result


def _proc_io() -> dict[str, int]:
    return {k: int(v) for k, v in (line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())}


def _install_phase_timers(app: Any) -> tuple[dict[str, float], dict[str, float], list[Any]]:
    """Wrap the gateway's entry points with CPU and wall accumulators; returns (CPU, wall, undo callables)."""
    import functools
    import inspect

    from gateway.audit import service as audit
    from gateway.auth import service as auth_service
    from gateway.auth.backend import BearerTokenBackend
    from gateway.auth.tokens import TokenVerifier
    from gateway.graphql.view import GatewayGraphQL
    from gateway.referrals import service as referrals

    totals: dict[str, float] = {}
    walls: dict[str, float] = {}
    restore: list[Any] = []

    def wrap(owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)
        totals[name] = walls[name] = 0.0
        if inspect.iscoroutinefunction(original):
            @functools.wraps(original)
            async def timed(*a: Any, **k: Any) -> Any:
                start, wall = time.process_time(), time.perf_counter()
                try:
                    return await original(*a, **k)
                finally:
                    totals[name] += time.process_time() - start
                    walls[name] += time.perf_counter() - wall
        else:
            @functools.wraps(original)
            def timed(*a: Any, **k: Any) -> Any:  # type: ignore[misc]
                start, wall = time.process_time(), time.perf_counter()
                try:
                    return original(*a, **k)
                finally:
                    totals[name] += time.process_time() - start
                    walls[name] += time.perf_counter() - wall
        setattr(owner, attribute, timed)
        restore.append(lambda: setattr(owner, attribute, original))

    view = next(route.endpoint for route in app.routes if getattr(route, "path", "") == "/graphql")
    wrap(BearerTokenBackend, "authenticate", "auth: whole token check (JWT + revocation query in its own session)")
    wrap(TokenVerifier, "verify_with_known_keys", "auth:   JWT signature and claims (pyjwt, ES256)")
    wrap(auth_service, "token_state", "auth:   revocation query (session, pre-ping, SELECT, rollback)")
    wrap(view.schema, "execute", "graphql: whole execution (strawberry + graphql-core + resolvers + loaders)")
    wrap(referrals, "list_inbox", "graphql:   inbox page query (list_inbox)")
    wrap(referrals, "load_consent_contexts_for_tasks", "graphql:   page tasks + consents (consent contexts)")
    wrap(referrals, "load_victim_views_for_tasks", "graphql:   victim views (query + minimisation + audit queue)")
    wrap(referrals, "load_consent_summaries_for_tasks", "graphql:   consent summaries")
    wrap(referrals, "load_contact_attempts_for_tasks", "graphql:   contact attempts query")
    wrap(GatewayGraphQL, "process_result", "commit: whole (audit chain + COMMIT + result processing)")
    wrap(audit, "_chain_rows", "commit:   audit chain (flush, advisory lock, head read, rows, executemany)")
    wrap(audit, "hash_row_values", "commit:     sha256 of each audit row (json.dumps + hashlib)")
    wrap(GatewayGraphQL, "encode_json", "response: JSON encoding (orjson)")
    return totals, walls, restore


# Whose code the CPU was in at the moment of the sample (the innermost frame of a listed package; a C extension's
# time shows as the Python frame that called it, so uvloop's and asyncpg's C work falls under "asyncio / uvloop"
# when the loop itself called it).
LIBRARIES = [
    ("orjson (JSON)", ("orjson",)), ("pyjwt + cryptography (ES256)", ("jwt/", "cryptography/")),
    ("asyncpg (protocol, codecs)", ("asyncpg/",)), ("SQLAlchemy (compile, execute, results, pool, ORM session)",
                                                   ("sqlalchemy/", "sqlmodel/")),
    ("graphql-core", ("graphql/",)), ("strawberry", ("strawberry/",)), ("starlette", ("starlette/",)),
    ("gateway code (incl. the stdlib it calls: json, hashlib, dataclasses)", ("gateway/", "providers/")),
    ("asyncio / uvloop (event loop, futures, C callbacks)", ("asyncio/", "uvloop")),
]
# SQLAlchemy's asyncio layer runs its synchronous part in a greenlet: py-spy sees such a stack rooted at the
# function the greenlet started, without the request's frames above it. Named here by that root.
GREENLET_ROOTS = {
    "Session.commit": "greenlet: Session.commit (before_commit audit chain, flush, COMMIT)",
    "Connection.execute": "greenlet: Connection.execute (a statement: compile, bind, run, rows)",
    "Session.exec": "greenlet: Session.exec (an ORM/sqlmodel select)",
    "Session.execute": "greenlet: Session.execute (an ORM select)",
    "Session.connection": "greenlet: Session.connection (checkout, pre-ping, BEGIN)",
    "Session.close": "greenlet: Session.close (rollback, checkin)",
}


def analyse_samples(raw: Path) -> dict[str, Any]:
    from collections import Counter

    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        # Idle helper threads (anyio's workers, the thread waiting for py-spy) that py-spy still reports.
        if frames[0].startswith("Thread._bootstrap") or frames[-1].startswith(("Condition.wait", "Popen.")):
            continue
        stacks.append((frames, int(count)))
    total = sum(c for _, c in stacks) or 1
    cumulative: Counter[str] = Counter()
    own: Counter[str] = Counter()
    roots: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    for frames, count in stacks:
        for frame in set(frames):
            cumulative[frame] += count
        own[frames[-1]] += count
        root = frames[0].split(" (")[0]
        roots[GREENLET_ROOTS.get(root, "request coroutine stack" if root == "<module>" else f"other: {root}")] += count
        library = "other"
        for frame in reversed(frames):
            hit = next((name for name, marks in LIBRARIES if any(m in frame for m in marks)), None)
            if hit:
                library = hit
                break
        libraries[library] += count
    skip = ("_profile.<locals>.one (", "_Asgi.post (", "_profile (", "<module>", "main (", "profile (", "run (",
            "Runner.run (")
    table = [{"function": f, "cum_share": round(c / total, 3), "own_share": round(own[f] / total, 3)}
             for f, c in cumulative.most_common() if not f.startswith(skip)]
    lines = [f"{total} on-CPU samples of the main thread", "", "innermost library on the stack:"]
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in libraries.most_common()]
    lines += ["", "stack segments (greenlet-run SQLAlchemy work is a separate stack):"]
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in roots.most_common()]
    lines += ["", "functions by cumulative share within their stack segment (own share):"]
    lines += [f"  {100 * r['cum_share']:5.1f}% ({100 * r['own_share']:4.1f}%)  {r['function']}" for r in table[:60]]
    return {"samples": total, "libraries": {k: round(v / total, 3) for k, v in libraries.items()},
            "segments": {k: round(v / total, 3) for k, v in roots.items()},
            "cumulative": table, "text": "\n".join(lines) + "\n"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="the side-by-side run")
    b.add_argument("--referrals", type=int, default=100_000)
    b.add_argument("--concurrency", type=int, default=16)
    b.add_argument("--warmup", type=float, default=5.0)
    b.add_argument("--duration", type=float, default=25.0)
    b.add_argument("--rounds", type=int, default=3)
    b.add_argument("--workers", type=int, default=2, help="processes per server, one port each")
    b.add_argument("--pool-size", type=int, default=16, help="PostgreSQL pool per PostGraphile process")
    b.add_argument("--max-requests", type=int, default=500_000)
    b.add_argument("--loop", default="auto")
    b.add_argument("--http", default="auto")
    b.add_argument("--no-pg4", action="store_true", help="leave PostGraphile v4 out")
    b.add_argument("--pg5-dir", default=str(PEER / "pg5"))
    b.add_argument("--pg4-dir", default=None, help="a PostGraphile v4 installation (optional)")
    b.add_argument("--sql-requests", type=int, default=20, help="requests for the statements-per-request count")
    b.add_argument("--wait-load", type=float, default=1.0, help="start when the 1-min load average is below")
    b.add_argument("--wait-max", type=float, default=900, help="but wait at most this long (s)")
    b.add_argument("--out", default="bench/results/peer")
    p = sub.add_parser("profile", help="cProfile of gateway inbox requests in-process, through ASGI")
    p.add_argument("--referrals", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=200, help="requests timed and counted in pg_stat_statements")
    p.add_argument("--seconds", type=float, default=30.0, help="how long py-spy samples the request loop")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--warm", type=int, default=30)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    p.add_argument("--out", default="bench/results/peer")
    args = parser.parse_args()
    if args.command == "bench" and args.pg4_dir is None:
        args.no_pg4 = True
    bench(args) if args.command == "bench" else profile(args)


if __name__ == "__main__":
    main()
