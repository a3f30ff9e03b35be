"""Sealing the s.62 log off the request path: on PostgreSQL writers insert rows once and take no lock; a sealer
covers them by insert-only seals in (transaction id, id) order once their transactions have ended, none lost, none
twice, and verify recomputes every row's digest. On SQLite writers chain their own rows, as before."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from gateway.app import create_app
from gateway.audit.models import GENESIS_HASH, AuditCategory
from gateway.audit.sealer import run_sealer, seal_pass, seal_until_done
from gateway.audit.service import (
    AUDIT_LOG,
    AUDIT_SEALS,
    ROWS_TO_SEAL,
    AuditRecord,
    append_audit,
    queue_audit,
    verify_chain,
    verify_report,
)
from gateway.db import AsyncSession, create_engine, create_session_factory
from gateway.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[2]
POSTGRESQL_ONLY = pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)

WRITERS = 8
TRANSACTIONS_PER_WRITER = 40
ROLLED_BACK_EVERY = 4  # each writer's transactions 3, 7, 11, ... roll back


def _records(writer: int, transaction: int, count: int) -> list[AuditRecord]:
    # The row names its writer, transaction and position, so the test can account for every one.
    return [
        AuditRecord(
            category=AuditCategory.CONSULTATION,
            action="test.seal",
            purpose="sealing under concurrent writers",
            subject_ids={"writer": writer, "transaction": transaction, "row": row},
        )
        for row in range(count)
    ]


def _key(row: Any) -> tuple[int, int, int]:
    subject = row.subject_ids
    return (int(subject["writer"]), int(subject["transaction"]), int(subject["row"]))


async def _all_rows(engine: AsyncEngine) -> list[Any]:
    """Every row in chain order: chained ones by sequence (SQLite), then the rest by (transaction id, id)."""
    async with engine.connect() as connection:
        found = await connection.execute(
            sa.select(AUDIT_LOG).order_by(
                AUDIT_LOG.c.sequence.asc().nulls_last(), AUDIT_LOG.c.transaction_id, AUDIT_LOG.c.id
            )
        )
        return list(found.all())


async def _seals(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(sa.select(AUDIT_SEALS).order_by(AUDIT_SEALS.c.sequence))).all())


async def _sealed_ids(engine: AsyncEngine) -> set[int]:
    """The rows the chain holds: chained one by one (a sequence), or at or before the last seal's last row."""
    seals = await _seals(engine)
    last = (seals[-1].last_transaction_id, seals[-1].last_audit_id) if seals else (-1, -1)
    return {
        row.id for row in await _all_rows(engine) if row.sequence is not None or (row.transaction_id, row.id) <= last
    }


def _covering_seal(seals: list[Any], row: Any) -> Any:
    return next(
        seal for seal in seals if (row.transaction_id, row.id) <= (seal.last_transaction_id, seal.last_audit_id)
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(database_url)
    try:
        yield made
    finally:
        await made.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def _commit_rows(
    sessions: async_sessionmaker[AsyncSession], writer: int, transaction: int, count: int = 2
) -> None:
    async with sessions() as db:
        await append_audit(db=db, actor=None, records=_records(writer, transaction, count))
        await db.commit()


@POSTGRESQL_ONLY
async def test_concurrent_writers_and_sealers_seal_every_committed_row_once_in_order(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    # Given two background sealers (only one may pass at a time) while eight writers run short transactions, some
    # appending, some queueing reads for commit, a quarter rolled back, each writer also sealing now and then
    committed: set[tuple[int, int, int]] = set()
    sealer_engine = create_engine(database_url)
    stop = asyncio.Event()
    sealers = [
        asyncio.create_task(run_sealer(engine, stop, interval_seconds=0.005)),
        asyncio.create_task(run_sealer(sealer_engine, stop, interval_seconds=0.005)),
    ]

    async def writer(number: int) -> None:
        async with sessions() as db:
            for transaction in range(TRANSACTIONS_PER_WRITER):
                count = 1 + (number + transaction) % 5
                records = _records(number, transaction, count)
                if transaction % 2:
                    queue_audit(db=db, actor=None, records=records[:1])
                    await append_audit(db=db, actor=None, records=records[1:])
                else:
                    await append_audit(db=db, actor=None, records=records)
                # Hold the transaction open a little, differently per writer, so others commit and seal past it
                await asyncio.sleep(0.002 * ((number + transaction) % 3))
                if transaction % ROLLED_BACK_EVERY == ROLLED_BACK_EVERY - 1:
                    await db.rollback()
                    continue
                await db.commit()
                committed.update((number, transaction, row) for row in range(count))
                if transaction % 3 == number % 3:
                    await seal_pass(engine, batch_size=7)  # small batches: the chain continues across passes

    try:
        await asyncio.gather(*(writer(number) for number in range(WRITERS)))
    finally:
        stop.set()
        await asyncio.gather(*sealers)
        await sealer_engine.dispose()

    # When the sealing is finished
    await seal_until_done(engine)

    # Then every committed row is there exactly once, nothing rolled back is, and every row is sealed
    rows = await _all_rows(engine)
    keys = [_key(row) for row in rows]
    assert len(keys) == len(set(keys)) and set(keys) == committed
    assert all(row.transaction_id is not None and row.sequence is None for row in rows)
    assert await _sealed_ids(engine) == {row.id for row in rows}
    # And the seals are gap-free from 1, many (the writers sealed in small batches as they went), and cover the rows
    # in ascending (transaction id, id) order, each run starting just after the one before, none twice
    seals = await _seals(engine)
    assert [seal.sequence for seal in seals] == list(range(1, len(seals) + 1)) and len(seals) > 10
    order = [(row.transaction_id, row.id) for row in rows]
    runs: list[tuple[int, int]] = []
    for seal in seals:
        runs.extend(order[len(runs) : len(runs) + seal.row_count])
        assert runs[-seal.row_count] == (seal.first_transaction_id, seal.first_audit_id)
        assert runs[-1] == (seal.last_transaction_id, seal.last_audit_id)
    assert runs == order and all(before < after for before, after in itertools.pairwise(order))
    assert [seal.previous_hash for seal in seals[1:]] == [seal.seal_hash for seal in seals[:-1]]
    # And each writer's transaction is one database transaction, its rows together in the chain
    pairs = {(row.transaction_id, key[:2]) for row, key in zip(rows, keys, strict=True)}
    assert len(pairs) == len({tid for tid, _ in pairs}) == len({written for _, written in pairs})
    async with sessions() as db:
        report = await verify_report(db)
    assert (report.broken_at, report.sealed, report.unsealed, report.seals) == (None, len(rows), 0, len(seals))


@POSTGRESQL_ONLY
async def test_a_long_transaction_is_sealed_after_it_ends_in_transaction_order_without_resealing(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as long_running:
        # Given a transaction that has begun (and read) before anything else is written
        await (await long_running.connection()).execute(sa.text("SELECT 1"))
        # And a writer that commits meanwhile, sealed at once
        await _commit_rows(sessions, writer=1, transaction=1)
        assert await seal_until_done(engine) == 2
        first = await _seals(engine)

        # When the long transaction writes its rows and stays open while another writer commits
        await append_audit(db=long_running, actor=None, records=_records(2, 1, 3))
        await _commit_rows(sessions, writer=3, transaction=1)

        # Then neither is sealed: the later writer waits behind the open one, whose id is smaller
        assert await seal_until_done(engine) == 0
        assert len(await _sealed_ids(engine)) == 2
        await long_running.commit()

    # When it has ended
    assert await seal_until_done(engine) == 5

    # Then its rows follow the first writer's and precede the later writer's, in transaction id order
    rows = await _all_rows(engine)
    assert [_key(row)[0] for row in rows] == [1, 1, 2, 2, 2, 3, 3]
    assert await _sealed_ids(engine) == {row.id for row in rows}
    transaction_ids = [row.transaction_id for row in rows]
    assert transaction_ids == sorted(transaction_ids)
    # And what was sealed before is exactly as it was, the new seal following it
    seals = await _seals(engine)
    assert seals[: len(first)] == first and [seal.row_count for seal in seals] == [2, 5]
    assert seals[1].previous_hash == first[0].seal_hash
    async with sessions() as db:
        assert (await verify_report(db)).broken_at is None


@POSTGRESQL_ONLY
async def test_a_write_on_the_request_path_takes_no_advisory_lock(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as db:
        # Given a writer that has appended and queued rows and has not committed
        queue_audit(db=db, actor=None, records=_records(1, 1, 2))
        await append_audit(db=db, actor=None, records=_records(1, 2, 3))
        connection = await db.connection()
        writer = (
            await connection.execute(sa.text("SELECT pg_backend_pid(), pg_current_xact_id()::text::bigint"))
        ).one()

        # When another connection looks at the locks
        async with engine.connect() as observer:
            advisory = (
                await observer.execute(
                    sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = :pid"),
                    {"pid": writer[0]},
                )
            ).scalar_one()

        # Then the writer holds none, and its rows carry its own transaction id and no place in the chain
        assert advisory == 0
        written = (
            await connection.execute(sa.select(AUDIT_LOG.c.transaction_id, AUDIT_LOG.c.sequence, AUDIT_LOG.c.row_hash))
        ).all()
        assert [tuple(row) for row in written] == [(writer[1], None, None)] * 5
        await db.rollback()


@POSTGRESQL_ONLY
async def test_the_database_refuses_any_change_to_a_row_or_a_seal(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _commit_rows(sessions, writer=1, transaction=1)
    [row, _] = await _all_rows(engine)
    refused_changes = [
        "UPDATE audit_log SET purpose = 'x' WHERE id = :id",
        # what the sealer before migration 0016 was allowed to do
        "UPDATE audit_log SET sequence = 1, previous_hash = 'a', row_hash = 'b', sealed_at = now() WHERE id = :id",
        "UPDATE audit_log SET sequence = 1 WHERE id = :id",
        "DELETE FROM audit_log WHERE id = :id",
    ]
    # A row cannot be changed or deleted, before or after it is sealed
    for sealed in (False, True):
        for statement in refused_changes:
            with pytest.raises(DBAPIError, match="audit_log is append-only"):
                async with engine.begin() as connection:
                    await connection.execute(sa.text(statement), {"id": row.id})
        if not sealed:
            assert await seal_until_done(engine) == 2
    # Nor can a seal
    for statement in ("UPDATE audit_seals SET seal_hash = 'x'", "DELETE FROM audit_seals"):
        with pytest.raises(DBAPIError, match="audit_seals is append-only"):
            async with engine.begin() as connection:
                await connection.execute(sa.text(statement))
    # And a row that no sealer could place, unsealed without its transaction's id, is refused at its insert
    with pytest.raises(DBAPIError, match="ck_audit_log_sealable"):
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO audit_log (occurred_at, category, action, purpose, actor, subject_ids, "
                    "safeguarding_override) VALUES (now(), 'consultation', 'x', 'x', 'x', '{}', false)"
                )
            )
    async with sessions() as db:
        assert (await verify_report(db)).broken_at is None


async def test_sqlite_writers_seal_their_own_rows_and_postgresql_leaves_them_to_the_sealer(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_kind: str
) -> None:
    # Given rows committed by a writer
    await _commit_rows(sessions, writer=1, transaction=1, count=3)

    # Then on SQLite they are sealed already and the sealer has nothing to do; on PostgreSQL it seals them
    written = [row.sequence for row in await _all_rows(engine)]
    assert written == ([1, 2, 3] if database_kind == "sqlite" else [None, None, None])
    assert await seal_until_done(engine) == (0 if database_kind == "sqlite" else 3)
    rows = await _all_rows(engine)
    assert await _sealed_ids(engine) == {row.id for row in rows}
    # SQLite's rows carry their place in the chain; PostgreSQL's are unchanged and one seal covers them
    assert [row.sequence for row in rows] == ([1, 2, 3] if database_kind == "sqlite" else [None, None, None])
    assert {row.transaction_id is None for row in rows} == {database_kind == "sqlite"}
    assert [seal.row_count for seal in await _seals(engine)] == ([] if database_kind == "sqlite" else [3])


async def test_verify_reports_the_unsealed_tail_and_the_longest_sealing_delay(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_kind: str
) -> None:
    # Given committed rows, on PostgreSQL not yet sealed
    await _commit_rows(sessions, writer=1, transaction=1, count=2)
    await _commit_rows(sessions, writer=2, transaction=1, count=1)
    rows = await _all_rows(engine)
    async with sessions() as db:
        before = await verify_report(db)
    if database_kind == "postgresql":
        # Then verify reports them as the unsealed tail, dated by the oldest
        assert (before.broken_at, before.sealed, before.unsealed) == (None, 0, 3)
        assert before.oldest_unsealed_at == min(row.occurred_at for row in rows)
        assert before.longest_sealing_delay is None
        await seal_until_done(engine)
        rows = await _all_rows(engine)

    # When they are sealed, verify reports no tail and the longest delay from writing to sealing
    async with sessions() as db:
        after = await verify_report(db)
    assert (after.broken_at, after.sealed, after.unsealed, after.oldest_unsealed_at) == (None, 3, 0, None)
    seals = await _seals(engine)
    sealed_at = [row.sealed_at if row.sealed_at is not None else _covering_seal(seals, row).sealed_at for row in rows]
    assert after.longest_sealing_delay == max(
        moment - row.occurred_at for moment, row in zip(sealed_at, rows, strict=True)
    )


def _gateway(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_ENV": "development"}
    return subprocess.run(
        [sys.executable, "-m", "gateway", "audit", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPOSITORY,
        check=False,
    )


@POSTGRESQL_ONLY
async def test_gateway_audit_seal_and_verify_commands(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    # Given three committed, unsealed rows
    await _commit_rows(sessions, writer=1, transaction=1, count=3)

    # Then verify passes (the tail is not a break) and says how many wait
    waiting = _gateway(database_url, "verify")
    assert waiting.returncode == 0, waiting.stderr
    assert waiting.stdout.splitlines()[0] == "OK: 3 audit rows, hash chain intact"
    assert waiting.stdout.splitlines()[1].startswith("sealed: 0; unsealed: 3 (oldest ")

    # When the seal command runs, they are sealed and verify says so
    sealed = _gateway(database_url, "seal")
    assert (sealed.returncode, sealed.stdout.strip()) == (0, "sealed 3 audit rows"), sealed.stderr
    done = _gateway(database_url, "verify")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("sealed: 3; unsealed: 0 (oldest none); longest sealing delay: ")


async def _eventually(condition: Callable[[], Any], *, seconds: float = 20.0) -> None:
    # A hard upper bound so a sealer that never runs fails the test rather than hanging it; not a speed check.
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "the sealer in serve never sealed the rows"
        await asyncio.sleep(0.05)


@POSTGRESQL_ONLY
async def test_the_server_seals_in_the_background(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    # Given the app's lifespan running with the sealer on, as `gateway serve` runs it
    app = create_app(Settings(database_url=database_url, dispatch_in_serve=False, seal_audit_in_serve=True))
    async with app.router.lifespan_context(app):
        # When a writer commits rows
        await _commit_rows(sessions, writer=1, transaction=1, count=4)

        # Then they are sealed without anyone running a pass
        async def sealed() -> bool:
            return len(await _sealed_ids(engine)) == len(await _all_rows(engine))

        await _eventually(sealed)
    async with sessions() as db:
        report = await verify_report(db)
    assert (report.broken_at, report.sealed, report.unsealed) == (None, 4, 0)


@POSTGRESQL_ONLY
async def test_gateway_audit_seal_follow_seals_as_rows_arrive_until_terminated(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    # Given a sealer process of its own
    environment = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_ENV": "development"}
    process = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, stopped below
        [sys.executable, "-m", "gateway", "audit", "seal", "--follow"], env=environment, cwd=REPOSITORY
    )
    try:
        # When a writer commits rows
        await _commit_rows(sessions, writer=1, transaction=1, count=3)

        # Then the process seals them
        async def sealed() -> bool:
            return len(await _sealed_ids(engine)) == len(await _all_rows(engine))

        await _eventually(sealed)
    finally:
        # And stops cleanly when told to
        process.terminate()
        returncode = await asyncio.to_thread(process.wait, 30)
    assert returncode == 0


async def _digests(engine: AsyncEngine) -> dict[int, bytes]:
    async with engine.connect() as connection:
        found = await connection.execute(ROWS_TO_SEAL, {"tx": -1, "id": -1, "limit": 1000})
        return {row.id: bytes(row.digest) for row in found}


async def _forge_seal(engine: AsyncEngine, rows: list[Any], digests: bytes) -> None:
    # A seal with a right hash and link over the given digests: only what it covers, or their order, is wrong.
    async with engine.begin() as connection:
        await connection.execute(
            AUDIT_SEALS.insert().values(
                sequence=1,
                first_transaction_id=rows[0].transaction_id,
                first_audit_id=rows[0].id,
                last_transaction_id=rows[-1].transaction_id,
                last_audit_id=rows[-1].id,
                row_count=len(rows),
                previous_hash=GENESIS_HASH,
                row_digests=digests,
                seal_hash=hashlib.sha256(bytes.fromhex(GENESIS_HASH) + digests).hexdigest(),
                sealed_at=max(row.occurred_at for row in rows),
                oldest_occurred_at=min(row.occurred_at for row in rows),
            )
        )


@POSTGRESQL_ONLY
async def test_verify_names_the_first_row_sealed_out_of_transaction_order(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Given two committed transactions' rows, sealed by a faulty sealer with the later transaction first: the hash
    # and link are right, only the order is not
    await _commit_rows(sessions, writer=1, transaction=1, count=2)
    await _commit_rows(sessions, writer=2, transaction=1, count=2)
    rows = await _all_rows(engine)
    digests = await _digests(engine)
    await _forge_seal(engine, rows, b"".join(digests[row.id] for row in rows[2:] + rows[:2]))

    # Then verify names the first row out of order
    async with sessions() as db:
        assert await verify_chain(db) == rows[0].id


async def _bypass_append_only(engine: AsyncEngine, statement: str, values: dict[str, Any]) -> None:
    # The database refuses these changes; an attacker with owner rights would first disable that.
    async with engine.begin() as connection:
        await connection.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        await connection.execute(sa.text(statement), values)
        await connection.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


@POSTGRESQL_ONLY
@pytest.mark.parametrize("tampering", ["changed", "removed", "slipped in"])
async def test_verify_names_the_row_where_a_sealed_run_was_tampered_with(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tampering: str
) -> None:
    # Given six rows of three transactions under two seals, verified
    for writer in (1, 2, 3):
        await _commit_rows(sessions, writer=writer, transaction=1, count=2)
        if writer == 2:
            await seal_until_done(engine)
    assert await seal_until_done(engine) == 2
    rows = await _all_rows(engine)
    async with sessions() as db:
        assert (await verify_report(db)).seals == 2 and await verify_chain(db) is None

    # When one of them is changed or removed behind the application's back, or a row is added inside a sealed run
    target = rows[2]
    if tampering == "changed":
        await _bypass_append_only(engine, "UPDATE audit_log SET purpose = 'x' WHERE id = :id", {"id": target.id})
        named = target.id
    elif tampering == "removed":
        await _bypass_append_only(engine, "DELETE FROM audit_log WHERE id = :id", {"id": target.id})
        named = rows[3].id  # the row now in its place
    else:
        await _bypass_append_only(
            engine,
            "INSERT INTO audit_log (id, occurred_at, category, action, purpose, actor, subject_ids, "
            "safeguarding_override, transaction_id) "
            "VALUES (:id, now(), 'consultation', 'x', 'x', 'x', '{}', false, :tx)",
            {"id": 100000, "tx": target.transaction_id},
        )
        named = 100000  # it sorts after its transaction's rows, among rows already sealed

    # Then verify names it
    async with sessions() as db:
        assert await verify_chain(db) == named
