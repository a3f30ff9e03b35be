"""Sealing the s.62 log off the request path: on PostgreSQL writers insert rows unsealed and take no lock; a sealer
places them in the chain in (transaction id, id) order once their transactions have ended, none lost, none twice.
On SQLite writers seal their own rows, as before."""

from __future__ import annotations

import asyncio
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
    AuditRecord,
    append_audit,
    queue_audit,
    seal_values,
    verify_chain,
    verify_report,
)
from gateway.clock import utc_now
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
    async with engine.connect() as connection:
        found = await connection.execute(
            sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.sequence.asc().nulls_last(), AUDIT_LOG.c.id)
        )
        return list(found.all())


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
    assert all(row.transaction_id is not None and row.sealed_at is not None for row in rows)
    # And the chain is gap-free from 1 and in ascending (transaction id, id) order
    assert [row.sequence for row in rows] == list(range(1, len(rows) + 1))
    order = [(row.transaction_id, row.id) for row in rows]
    assert all(before < after for before, after in itertools.pairwise(order))
    # And each writer's transaction is one database transaction, its rows together in the chain
    pairs = {(row.transaction_id, key[:2]) for row, key in zip(rows, keys, strict=True)}
    assert len(pairs) == len({tid for tid, _ in pairs}) == len({written for _, written in pairs})
    async with sessions() as db:
        report = await verify_report(db)
    assert (report.broken_at, report.sealed, report.unsealed) == (None, len(rows), 0)


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
        first = {row.id: (row.sequence, row.row_hash, row.sealed_at) for row in await _all_rows(engine)}

        # When the long transaction writes its rows and stays open while another writer commits
        await append_audit(db=long_running, actor=None, records=_records(2, 1, 3))
        await _commit_rows(sessions, writer=3, transaction=1)

        # Then neither is sealed: the later writer waits behind the open one, whose id is smaller
        assert await seal_until_done(engine) == 0
        assert [row.sequence for row in await _all_rows(engine)] == [1, 2, None, None]
        await long_running.commit()

    # When it has ended
    assert await seal_until_done(engine) == 5

    # Then its rows follow the first writer's and precede the later writer's, in transaction id order
    rows = await _all_rows(engine)
    assert [_key(row)[0] for row in rows] == [1, 1, 2, 2, 2, 3, 3]
    assert [row.sequence for row in rows] == list(range(1, 8))
    transaction_ids = [row.transaction_id for row in rows]
    assert transaction_ids == sorted(transaction_ids)
    # And what was sealed before is exactly as it was
    assert {row.id: (row.sequence, row.row_hash, row.sealed_at) for row in rows if row.id in first} == first
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
async def test_the_database_lets_a_row_be_sealed_once_and_changed_no_other_way(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _commit_rows(sessions, writer=1, transaction=1)
    [unsealed, _] = await _all_rows(engine)
    refused_changes = [
        "UPDATE audit_log SET purpose = 'x' WHERE id = :id",
        "UPDATE audit_log SET purpose = 'x', sequence = 1, previous_hash = 'a', row_hash = 'b', sealed_at = now() "
        "WHERE id = :id",
        "UPDATE audit_log SET transaction_id = 1, sequence = 1, previous_hash = 'a', row_hash = 'b', "
        "sealed_at = now() WHERE id = :id",
        "UPDATE audit_log SET sequence = 1 WHERE id = :id",  # half a seal
        "DELETE FROM audit_log WHERE id = :id",
    ]
    # An unsealed row cannot be changed, half-sealed or deleted
    for statement in refused_changes:
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(sa.text(statement), {"id": unsealed.id})
    # Once sealed, it cannot be sealed again
    assert await seal_until_done(engine) == 2
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("UPDATE audit_log SET sequence = 9, row_hash = 'b', sealed_at = now() WHERE id = :id"),
                {"id": unsealed.id},
            )
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
    assert [row.sequence for row in rows] == [1, 2, 3] and all(row.sealed_at is not None for row in rows)
    assert {row.transaction_id is None for row in rows} == {database_kind == "sqlite"}


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
    assert after.longest_sealing_delay == max(row.sealed_at - row.occurred_at for row in rows)


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
            return all(row.sequence is not None for row in await _all_rows(engine))

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
            return all(row.sequence is not None for row in await _all_rows(engine))

        await _eventually(sealed)
    finally:
        # And stops cleanly when told to
        process.terminate()
        returncode = await asyncio.to_thread(process.wait, 30)
    assert returncode == 0


@POSTGRESQL_ONLY
async def test_verify_names_the_first_row_sealed_out_of_transaction_order(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Given two committed transactions' rows, sealed by a faulty sealer with the later transaction first: every hash
    # and link is right, only the order is not
    await _commit_rows(sessions, writer=1, transaction=1, count=2)
    await _commit_rows(sessions, writer=2, transaction=1, count=2)
    earlier, later = (await _all_rows(engine))[:2], (await _all_rows(engine))[2:]
    wrong_order = [dict(row._mapping) for row in later + earlier]
    seal_values(wrong_order, (0, GENESIS_HASH), utc_now())
    async with engine.begin() as connection:
        for row in wrong_order:
            await connection.execute(
                sa.update(AUDIT_LOG)
                .where(AUDIT_LOG.c.id == row["id"])
                .values({name: row[name] for name in ("sequence", "previous_hash", "row_hash", "sealed_at")})
            )

    # Then verify names the first row out of order
    async with sessions() as db:
        assert await verify_chain(db) == earlier[0].id
