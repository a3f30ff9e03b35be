"""The audit sealer: places unsealed s.62 log rows in the hash chain, off the request path (PostgreSQL only).

Writers insert rows unsealed, each carrying its top-level transaction's id (`transaction_id`, taken by the INSERT
from pg_current_xact_id()), and take no lock. A seal pass, in one transaction:

1. takes `pg_try_advisory_xact_lock(SEALER_LOCK_KEY)`, a lock only sealers take, and returns at once if another
   sealer holds it, so there is one sealer at a time however many processes run one;
2. reads the horizon, `pg_snapshot_xmin(pg_current_snapshot())`: the oldest transaction id still running;
3. selects unsealed rows with `transaction_id < horizon`, ordered by (transaction_id, id), at most `SEAL_BATCH`;
4. continues the chain from the sealed head: sequence head+1, head+2, ..., each row hashed over its fields, its
   transaction id and the previous row's hash (gateway.audit.service.hash_row_values), and sets `sealed_at`.

Why the horizon makes the order final: every transaction whose id is below the horizon has ended, committed or
rolled back, so no row with such a transaction id can appear later; rows of transactions still running, and of
every transaction that will start from now on, carry ids at or above it. The rows a pass seals are therefore
exactly the rows that will ever exist below its horizon (up to the batch bound, where the next pass carries on in
the same order), and every row sealed later sorts after them. So the chain, in ascending (transaction_id, id), is
gap-free and never needs a row placed before one already sealed; `gateway audit verify` checks that order too.

What follows from it: a row is sealed shortly after its own transaction ends, and also after every transaction with
a smaller id that was still running (in any database of the cluster) has ended; a long transaction that holds an id
holds back sealing, not writing, and `gateway audit verify` shows the unsealed tail growing. A rolled-back
transaction leaves no rows, so nothing is skipped. The database lets a row change once, from unsealed to sealed,
touching nothing but the sealing columns (migration 0013's trigger), and never again.

SQLite has one writer at a time; there the writer seals its own rows in its transaction, as before, and the sealer
has nothing to do.

Where it runs: inside `gateway serve` (each worker runs a loop; the lock lets one pass run at a time), unless
GATEWAY_SEAL_AUDIT_IN_SERVE is off; `gateway audit seal --follow` is a sealer process of its own, and
`gateway audit seal` runs passes until nothing below the horizon is left. A pass's hashing runs in a thread so a
serving worker's event loop keeps answering requests meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.service import AUDIT_LOG, chain_head, seal_values
from gateway.clock import utc_now
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
# The sealing columns are set in one statement for the whole batch, matched by id; a row sealed meanwhile (it cannot
# be, under the lock) would not match and the pass would roll back.
SEAL_UPDATE = sa.text(
    """
    UPDATE audit_log AS a
    SET sequence = v.sequence, previous_hash = v.previous_hash, row_hash = v.row_hash, sealed_at = :sealed_at
    FROM unnest(CAST(:ids AS integer[]), CAST(:sequences AS integer[]), CAST(:previous AS varchar[]),
                CAST(:hashes AS varchar[])) AS v(id, sequence, previous_hash, row_hash)
    WHERE a.id = v.id AND a.sequence IS NULL
    """
).bindparams(sa.bindparam("sealed_at", type_=AUDIT_LOG.c.sealed_at.type))


@dataclass(frozen=True, slots=True)
class SealPass:
    """What one pass did: `busy` when another sealer held the lock, else how many rows it sealed below `horizon`."""

    sealed: int
    busy: bool = False
    horizon: int | None = None
    full: bool = False


def _sealed_rows(found: Sequence[sa.Row[Any]], head: tuple[int, str], sealed_at: datetime) -> list[dict[str, Any]]:
    names = list(found[0]._fields)
    rows = [dict(zip(names, row, strict=True)) for row in found]
    seal_values(rows, head, sealed_at)
    return rows


async def _seal_in(connection: AsyncConnection, batch_size: int) -> SealPass:
    taken = (await connection.execute(sa.select(sa.func.pg_try_advisory_xact_lock(SEALER_LOCK_KEY)))).scalar_one()
    if not taken:
        return SealPass(sealed=0, busy=True)
    horizon = int(
        (await connection.execute(sa.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))).scalar_one()
    )
    found = (
        await connection.execute(
            sa.select(AUDIT_LOG)
            .where(AUDIT_LOG.c.sequence.is_(None), AUDIT_LOG.c.transaction_id < horizon)
            .order_by(AUDIT_LOG.c.transaction_id, AUDIT_LOG.c.id)
            .limit(batch_size)
        )
    ).all()
    if not found:
        return SealPass(sealed=0, horizon=horizon)
    head = await connection.run_sync(chain_head)
    sealed_at = utc_now()
    # Hashing a batch is the pass's CPU work; in a thread the server's event loop keeps answering requests meanwhile.
    rows = await asyncio.to_thread(_sealed_rows, found, head, sealed_at)
    result = await connection.execute(
        SEAL_UPDATE,
        {
            "sealed_at": sealed_at,
            "ids": [row["id"] for row in rows],
            "sequences": [row["sequence"] for row in rows],
            "previous": [row["previous_hash"] for row in rows],
            "hashes": [row["row_hash"] for row in rows],
        },
    )
    if result.rowcount != len(rows):
        raise RuntimeError("audit seal pass lost its rows; rolled back")
    return SealPass(sealed=len(rows), horizon=horizon, full=len(rows) == batch_size)


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
