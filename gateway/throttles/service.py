"""Rules for public doors: count requests per network and overall in the database, and past the overall limit ask
for a small proof of work instead of refusing, so no third party can shut a door on anyone else.

Counters are fixed windows in `throttle_counters`, claimed with one conditional upsert, so several workers (and
several hosts on one database) share every limit and a request either counts or is refused, never half of each.
Keys are keyed hashes: the table never holds a caller's address.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.throttles.models import ThrottleCounter

# Rows are pruned once their window has been over this long, so a claim racing a window's end never loses its row.
PRUNE_GRACE = timedelta(minutes=1)
# At most this many ended rows go with each new one, so no request pays for clearing a backlog all at once.
PRUNE_BATCH = 500
CHALLENGE_ALGORITHM = "HS256"
MAX_SOLUTION_LENGTH = 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Claim:
    """Whether a request counted, and when refused, how long until its window ends."""

    granted: bool
    retry_after_seconds: int = 0


def _window_start(now: datetime, window_seconds: int) -> datetime:
    elapsed = int((now - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=elapsed - elapsed % window_seconds)


async def _count(
    db: AsyncSession, *, key: str, window_start: datetime, expires_at: datetime, limit: int, now: datetime
) -> int | None:
    """One more hit for (key, window) unless it already holds `limit`: the hits now, or None when refused."""
    table = ThrottleCounter.__table__  # type: ignore[attr-defined]
    connection = await db.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    # The WHERE makes a full window refuse without writing: the row is locked and read, never raised past the limit.
    statement = (
        insert(table)
        .values(key=key, window_start=window_start, hits=1, expires_at=expires_at)
        .on_conflict_do_update(
            index_elements=[table.c.key, table.c.window_start],
            set_={"hits": table.c.hits + 1},
            where=table.c.hits < limit,
        )
        .returning(table.c.hits)
    )
    row = (await db.exec(statement)).first()
    if row is None:
        return None
    hits = int(row[0])
    if hits == 1:
        # A new row: the moment to clear ones whose windows are over, so the table holds only live windows. Rows
        # another transaction is pruning are skipped, not waited for: two prunes waiting on each other's rows while
        # holding a counter each would deadlock. (SQLite has one writer and no row locks; it ignores FOR UPDATE.)
        ended = (
            sa.select(table.c.key, table.c.window_start)
            .where(table.c.expires_at < now - PRUNE_GRACE)
            .limit(PRUNE_BATCH)
            .with_for_update(skip_locked=True)
        )
        await db.exec(sa.delete(table).where(sa.tuple_(table.c.key, table.c.window_start).in_(ended)))
    return hits


async def claim_slot(
    *, db: AsyncSession, key: str, limit: int, window_seconds: int, now: datetime | None = None
) -> Claim:
    """Count one request for the key in the current fixed window, unless the window already holds `limit`."""
    moment = now or utc_now()
    start = _window_start(moment, window_seconds)
    ends = start + timedelta(seconds=window_seconds)
    if await _count(db, key=key, window_start=start, expires_at=ends, limit=limit, now=moment) is not None:
        return Claim(granted=True)
    return Claim(granted=False, retry_after_seconds=max(1, math.ceil((ends - moment).total_seconds())))


async def claim_once(*, db: AsyncSession, key: str, until: datetime, now: datetime | None = None) -> bool:
    """Mark the key used until `until`; False when it had been used already."""
    moment = now or utc_now()
    return await _count(db, key=key, window_start=until, expires_at=until, limit=1, now=moment) is not None


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose from the gateway's secret, so no two uses of it can stand in for each other."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def counter_key(key: bytes, scope: str, value: str) -> str:
    """The stored key for a counted value: its scope and a keyed hash, never the value (an address) itself."""
    return f"{scope}:{hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:40]}"


# -- proof of work ------------------------------------------------------------------------------------------


def leading_zero_bits(digest: bytes) -> int:
    """How many bits the digest starts with that are zero."""
    return len(digest) * 8 - int.from_bytes(digest, "big").bit_length()


def proof_digest(challenge: str, solution: str) -> bytes:
    """What a solution is judged by: sha256 of the challenge, a colon and the solution, as UTF-8."""
    return hashlib.sha256(f"{challenge}:{solution}".encode()).digest()


@dataclass(frozen=True, slots=True)
class Challenge:
    """A signed token to find a solution for, how many leading zero bits the solution's digest needs, and until when."""

    token: str
    bits: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Proof:
    """A challenge the gateway issued and the caller's answer to it."""

    challenge: str
    solution: str


def issue_challenge(
    *, key: bytes, audience: str, bits: int, ttl_seconds: int, now: datetime | None = None
) -> Challenge:
    """A signed, single-use challenge: find a solution whose proof digest starts with `bits` zero bits."""
    expires_at = (now or utc_now()).replace(microsecond=0) + timedelta(seconds=ttl_seconds)
    claims = {"aud": audience, "jti": secrets.token_urlsafe(16), "bits": bits, "exp": expires_at}
    return Challenge(token=jwt.encode(claims, key, algorithm=CHALLENGE_ALGORITHM), bits=bits, expires_at=expires_at)


async def accept_proof(*, db: AsyncSession, key: bytes, audience: str, proof: Proof) -> bool:
    """True once per challenge: one this gateway signed, unexpired, and solved to the difficulty it was issued with."""
    solution = proof.solution
    if not (0 < len(solution) <= MAX_SOLUTION_LENGTH and solution.isascii() and solution.isalnum()):
        return False
    try:
        claims = jwt.decode(
            proof.challenge,
            key,
            algorithms=[CHALLENGE_ALGORITHM],
            audience=audience,
            options={"require": ["aud", "exp", "jti", "bits"]},
        )
    except jwt.InvalidTokenError:
        return False
    bits = claims["bits"]
    if not isinstance(bits, int) or leading_zero_bits(proof_digest(proof.challenge, solution)) < bits:
        return False
    until = EPOCH + timedelta(seconds=int(claims["exp"]))
    return await claim_once(db=db, key=counter_key(key, f"{audience}:used", str(claims["jti"])), until=until)


# -- a public door ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DoorLimits:
    """What one network may send through a public door per window, and what everyone may before work is asked."""

    name: str
    per_network: int
    network_window_seconds: int
    overall: int
    overall_window_seconds: int
    challenge_bits: int
    challenge_ttl_seconds: int


@dataclass(frozen=True, slots=True)
class Door:
    """A door's limits and the keys its counters and challenges are made with."""

    limits: DoorLimits
    counter_key: bytes
    challenge_key: bytes

    @classmethod
    def with_secret(cls, limits: DoorLimits, secret: str) -> Door:
        return cls(
            limits=limits,
            counter_key=derive_key(secret, f"{limits.name}:counters"),
            challenge_key=derive_key(secret, f"{limits.name}:challenges"),
        )

    @property
    def audience(self) -> str:
        return f"{self.limits.name}:challenge"


class DoorRefusal(Exception):
    """The door did not let this request through; the caller rolls back, so the request counted for nothing."""


class NetworkLimited(DoorRefusal):
    """The caller's own network has used its allowance for this window."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("network over its limit")
        self.retry_after_seconds = retry_after_seconds


class WorkRequired(DoorRefusal):
    """Everyone together is over the overall rate: this request needs the challenge solved."""

    def __init__(self, challenge: Challenge, *, proof_refused: bool) -> None:
        super().__init__("proof of work required")
        self.challenge = challenge
        self.proof_refused = proof_refused


async def pass_door(
    *, db: AsyncSession, door: Door, network: str, proof: Proof | None, now: datetime | None = None
) -> None:
    """Count a request at a public door, in the caller's transaction; only the caller's own network can refuse it.

    Past the overall rate a request needs a solved challenge, which anyone can earn, so crowds shed load without
    shutting the door on the next person. Raises NetworkLimited or WorkRequired; the caller then rolls back.
    """
    limits = door.limits
    moment = now or utc_now()
    by_network = await claim_slot(
        db=db,
        key=counter_key(door.counter_key, f"{limits.name}:network", network),
        limit=limits.per_network,
        window_seconds=limits.network_window_seconds,
        now=moment,
    )
    if not by_network.granted:
        raise NetworkLimited(by_network.retry_after_seconds)
    if proof is not None and await accept_proof(db=db, key=door.challenge_key, audience=door.audience, proof=proof):
        return
    overall = await claim_slot(
        db=db,
        key=f"{limits.name}:overall",
        limit=limits.overall,
        window_seconds=limits.overall_window_seconds,
        now=moment,
    )
    if not overall.granted:
        challenge = issue_challenge(
            key=door.challenge_key,
            audience=door.audience,
            bits=limits.challenge_bits,
            ttl_seconds=limits.challenge_ttl_seconds,
            now=moment,
        )
        raise WorkRequired(challenge, proof_refused=proof is not None)
