"""The audit sealer: seals the s.62 log's rows in batches, off the request path (PostgreSQL only).

Writers insert rows once and never change them: no sequence or hashes, but their top-level transaction's id
(`transaction_id`, taken by the INSERT from pg_current_xact_id()), and they take no lock. A seal pass, in one
transaction:

1. takes `pg_try_advisory_xact_lock(SEALER_LOCK_KEY)`, a lock only sealers take, and returns at once if another
   sealer holds it, so there is one sealer at a time however many processes run one;
2. reads the horizon, `pg_snapshot_xmin(pg_current_snapshot())`: the oldest transaction id still running, and the
   last seal (its place, hash and the last row it covers);
3. in one statement, takes the rows after that last row with `transaction_id < horizon`, in (transaction_id, id)
   order, at most `SEAL_BATCH`, and inserts one `audit_seals` row covering them: the position after the last seal,
   the previous seal's hash, each row's digest in order (`ROW_DIGEST_SQL`, sha256 of every field PostgreSQL holds,
   the id and transaction id included) and the seal's hash, sha256(previous hash + digests). No audit row is
   written: an UPDATE of every row (the design before migration 0016) rewrote each row and every index entry,
   about 0.7 ms of PostgreSQL time per 50-row page, and its hashing in Python held the serving worker's GIL.

Why the horizon makes the order final: every transaction whose id is below the horizon has ended, committed or
rolled back, so no row with such a transaction id can appear later; rows of transactions still running, and of
every transaction that will start from now on, carry ids at or above it. The rows a pass seals are therefore
exactly the rows that will ever exist below its horizon after the last seal (up to the batch bound, where the next
pass carries on in the same order), and every row sealed later sorts after them. So the seals, in ascending
(transaction_id, id), cover every row once with no gap and never need a row placed before one already sealed;
`gateway audit verify` recomputes every digest and checks that too.

What follows from it: a row is sealed shortly after its own transaction ends, and also after every transaction with
a smaller id that was still running (in any database of the cluster) has ended; a long transaction that holds an id
holds back sealing, not writing, and `gateway audit verify` shows the unsealed tail growing. A rolled-back
transaction leaves no rows, so nothing is skipped. The database refuses any change to an audit row or a seal.

SQLite has one writer at a time; there the writer chains its own rows one by one in its transaction, as before,
and the sealer has nothing to do.

Where it runs: inside `gateway serve` (each worker runs a loop; the lock lets one pass run at a time), unless
GATEWAY_SEAL_AUDIT_IN_SERVE is off; `gateway audit seal --follow` is a sealer process of its own, and
`gateway audit seal` runs passes until nothing below the horizon is left. A pass is three short statements and all
its hashing is done by PostgreSQL, so a serving worker's event loop is not held up by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.service import row_digest_sql, seal_head
from gateway.settings import Settings

__all__ = [
    "SEALER_LOCK_KEY",
    "SEAL_BATCH",
    "SealPass",
    "background_sealer",
    "run_sealer",
    "seal_pass",
    "seal_until_done",
]

logger = logging.getLogger("gateway.audit.sealer")

# Any constant shared by every sealer, and by nothing else: writers take no lock at all.
SEALER_LOCK_KEY = 0x6175_6469_7473  # "audits"
SEAL_BATCH = 5000
MAX_FAILURE_PAUSE_SECONDS = 30.0
# One statement: the batch's rows in chain order, each digested by PostgreSQL, folded into one new seal. Rows without
# a sequence are those seals cover (rows chained one by one before migration 0016 have one). HAVING leaves no seal
# when there is nothing to seal.
SEAL_INSERT = sa.text(  # the f-string puts in a fixed expression of this code, never a value
    f"""
    WITH batch AS MATERIALIZED (
        SELECT a.id, a.transaction_id, a.occurred_at, {row_digest_sql("a")} AS digest
        FROM audit_log AS a
        WHERE a.sequence IS NULL AND a.transaction_id < CAST(:horizon AS bigint)
          AND (a.transaction_id, a.id) > (CAST(:after_transaction_id AS bigint), CAST(:after_audit_id AS bigint))
        ORDER BY a.transaction_id, a.id
        LIMIT CAST(:batch_size AS integer)
    ), numbered AS (
        SELECT b.*, row_number() OVER (ORDER BY b.transaction_id, b.id) AS position, count(*) OVER () AS total
        FROM batch AS b
    ), folded AS (
        SELECT
            max(transaction_id) FILTER (WHERE position = 1) AS first_transaction_id,
            max(id) FILTER (WHERE position = 1) AS first_audit_id,
            max(transaction_id) FILTER (WHERE position = total) AS last_transaction_id,
            max(id) FILTER (WHERE position = total) AS last_audit_id,
            count(*) AS row_count,
            string_agg(digest, ''::bytea ORDER BY position) AS row_digests,
            min(occurred_at) AS oldest_occurred_at
        FROM numbered
        HAVING count(*) > 0
    )
    INSERT INTO audit_seals (
        sequence, first_transaction_id, first_audit_id, last_transaction_id, last_audit_id, row_count,
        previous_hash, row_digests, seal_hash, sealed_at, oldest_occurred_at
    )
    SELECT
        CAST(:sequence AS bigint), first_transaction_id, first_audit_id, last_transaction_id, last_audit_id,
        row_count, CAST(:previous_hash AS text), row_digests,
        encode(sha256(decode(CAST(:previous_hash AS text), 'hex') || row_digests), 'hex'),
        clock_timestamp(), oldest_occurred_at
    FROM folded
    RETURNING row_count
    """  # noqa: S608
)


@dataclass(frozen=True, slots=True)
class SealPass:
    """What one pass did: `busy` when another sealer held the lock, else how many rows it sealed below `horizon`."""

    sealed: int
    busy: bool = False
    horizon: int | None = None
    full: bool = False


async def _seal_in(connection: AsyncConnection, batch_size: int) -> SealPass:
    taken = (await connection.execute(sa.select(sa.func.pg_try_advisory_xact_lock(SEALER_LOCK_KEY)))).scalar_one()
    if not taken:
        return SealPass(sealed=0, busy=True)
    horizon = int(
        (await connection.execute(sa.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))).scalar_one()
    )
    head = await connection.run_sync(seal_head)
    sealed = (
        await connection.execute(
            SEAL_INSERT,
            {
                "horizon": horizon,
                "after_transaction_id": head.after[0],
                "after_audit_id": head.after[1],
                "batch_size": batch_size,
                "sequence": head.sequence + 1,
                "previous_hash": head.seal_hash,
            },
        )
    ).scalar_one_or_none()
    count = int(sealed or 0)
    return SealPass(sealed=count, horizon=horizon, full=count == batch_size)


async def seal_pass(engine: AsyncEngine, *, batch_size: int = SEAL_BATCH) -> SealPass:
    """One pass in its own transaction; nothing to do on SQLite, whose writers seal their own rows."""
    if engine.dialect.name != "postgresql":
        return SealPass(sealed=0)
    async with engine.begin() as connection:
        return await _seal_in(connection, batch_size)


async def seal_until_done(
    engine: AsyncEngine, *, batch_size: int = SEAL_BATCH, busy_wait_seconds: float = 0.05, max_busy: int = 200
) -> int:
    """Pass after pass until one leaves nothing below its horizon; waits out another sealer. How many rows sealed."""
    sealed = 0
    busy = 0
    while True:
        done = await seal_pass(engine, batch_size=batch_size)
        if done.busy:
            busy += 1
            if busy > max_busy:
                raise TimeoutError("another audit sealer kept the sealing lock")
            await asyncio.sleep(busy_wait_seconds)
            continue
        sealed += done.sealed
        if not done.full:
            return sealed


async def run_sealer(engine: AsyncEngine, stop: asyncio.Event, *, interval_seconds: float) -> None:
    """Seal until `stop` is set: a full batch is followed at once by the next pass, anything less by a pause."""
    failures = 0
    while not stop.is_set():
        done: SealPass | None = None
        try:
            done = await seal_pass(engine)
            failures = 0
        except Exception:
            # The rows stay unsealed and a later pass retries them; the server keeps serving meanwhile. Waits double
            # while the failures last (a database that is down), so the log is not flooded.
            failures += 1
            logger.exception("audit seal pass failed")
        if done is None or not done.full:
            pause = min(interval_seconds * 2 ** min(failures, 10), max(interval_seconds, MAX_FAILURE_PAUSE_SECONDS))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)


@contextlib.asynccontextmanager
async def background_sealer(settings: Settings, engine: AsyncEngine) -> AsyncIterator[None]:
    """A sealer beside the app while the context lasts: on PostgreSQL, when GATEWAY_SEAL_AUDIT_IN_SERVE is on."""
    if not settings.seal_audit_in_serve or engine.dialect.name != "postgresql":
        yield
        return
    stop = asyncio.Event()
    running = asyncio.create_task(run_sealer(engine, stop, interval_seconds=settings.seal_audit_interval_seconds))
    try:
        yield
    finally:
        stop.set()
        await running
