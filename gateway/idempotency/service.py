"""Rules for idempotency keys: claim before acting, replay what the first request acted on, refuse a reused key.

A replay answers with the row the first request created or changed, read again as it is now, never a stored copy
of the first answer: a copy would keep personal data outside the minimisation and redaction every read applies
(after consent is withdrawn, a replayed task must come back redacted), and would show a task's old status as if
it were current. The caller compares the row's `version` with the one it expected to tell "my change, untouched
since" from "my change, and others after it"; either way the first request took effect exactly once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from gateway.auth.principal import Principal
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import Conflict, IdempotencyKeyReused, ValidationFailed
from gateway.idempotency.models import IdempotencyRecord

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """A key this request now holds, or, when `replayed_result_id` is set, the id of what the first request made."""

    record_id: int
    replayed_result_id: int | None

    @property
    def is_replay(self) -> bool:
        return self.replayed_result_id is not None


def _json_default(value: Any) -> Any:
    # One level at a time (json calls back for nested values): the same text as dataclasses.asdict, which
    # deep-copies every field first, at a fraction of the cost on a createReferral's input.
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: getattr(value, item.name) for item in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset)):
        return sorted(map(str, value))
    return str(value)


def request_fingerprint(request: dict[str, Any]) -> str:
    """A sha256 of the request's parameters, so a key reused for a different request is noticed."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


async def claim_idempotency_key(
    *, db: AsyncSession, organisation_id: int, operation: str, key: str, request: dict[str, Any]
) -> IdempotencyClaim:
    """Claim (organisation, operation, key); a key already used returns the first result instead."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(f"The idempotency key must be 1 to {MAX_KEY_LENGTH} printable characters.")
    fingerprint = request_fingerprint(request)
    values = {
        "organisation_id": organisation_id,
        "operation": operation,
        "key": key,
        "request_fingerprint": fingerprint,
    }
    table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
    connection = await db.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING waits on PostgreSQL for a concurrent holder of the key to commit or roll back,
    # so a racing retry sees the first result rather than failing the whole transaction.
    statement = (
        insert(table)
        .values(**values, created_at=utc_now())
        .on_conflict_do_nothing(index_elements=["organisation_id", "operation", "key"])
        .returning(table.c.id)
    )
    inserted = (await db.exec(statement)).first()
    if inserted is not None:
        return IdempotencyClaim(record_id=int(inserted[0]), replayed_result_id=None)
    existing = (
        await db.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.organisation_id == organisation_id,
                IdempotencyRecord.operation == operation,
                IdempotencyRecord.key == key,
            )
        )
    ).one()
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if existing.result_id is None or existing.id is None:
        raise Conflict("An earlier request with this idempotency key has not finished; try again shortly.")
    return IdempotencyClaim(record_id=existing.id, replayed_result_id=existing.result_id)


async def claim_for(
    *, db: AsyncSession, actor: Principal, operation: str, key: str, request: dict[str, Any]
) -> IdempotencyClaim:
    """Claim the key for the caller's organisation: every write a caller retries goes through here."""
    return await claim_idempotency_key(
        db=db, organisation_id=actor.organisation_id, operation=operation, key=key, request=request
    )


async def remember_result(*, db: AsyncSession, claim: IdempotencyClaim, result_id: int) -> None:
    """Store the id of what the claimed request produced, so a retry can return it."""
    await db.exec(
        sa.update(IdempotencyRecord)
        .where(col(IdempotencyRecord.id) == claim.record_id)
        .values(result_id=result_id)
        .execution_options(synchronize_session=False)
    )
