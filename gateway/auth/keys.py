"""Signing keys for access tokens: one active key signs; retired keys verify until their tokens expire."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from joserfc.jwk import ECKey
from sqlalchemy import or_
from sqlmodel import col, select

from gateway.auth.models import SigningKey
from gateway.clock import utc_now
from gateway.db import AsyncSession

SIGNING_ALGORITHM = "ES256"
# Clocks drift; a retired key keeps verifying a little past the last token's expiry.
VERIFY_GRACE = timedelta(seconds=60)


def _new_key() -> SigningKey:
    kid = f"gw-{utc_now():%Y%m%d}-{secrets.token_hex(4)}"
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": SIGNING_ALGORITHM, "use": "sig"})
    return SigningKey(
        kid=kid,
        algorithm=SIGNING_ALGORITHM,
        private_jwk=json.dumps(key.as_dict(private=True)),
        public_jwk=key.as_dict(private=False),
    )


async def active_signing_key(*, db: AsyncSession) -> SigningKey | None:
    """The newest key that has not been retired: the one that signs."""
    statement = (
        select(SigningKey).where(col(SigningKey.retired_at).is_(None)).order_by(col(SigningKey.id).desc()).limit(1)
    )
    return (await db.exec(statement)).first()


async def ensure_signing_key(*, db: AsyncSession) -> SigningKey:
    """The active key, creating the first one if there is none."""
    key = await active_signing_key(db=db)
    if key is None:
        key = _new_key()
        db.add(key)
        await db.flush()
    return key


async def rotate_signing_key(*, db: AsyncSession, access_token_ttl_seconds: int) -> tuple[SigningKey, list[str]]:
    """Introduce a new signing key; the old ones verify until every token they signed has expired."""
    now = utc_now()
    retiring = list((await db.exec(select(SigningKey).where(col(SigningKey.retired_at).is_(None)))).all())
    for old in retiring:
        old.retired_at = now
        old.verify_until = now + timedelta(seconds=access_token_ttl_seconds) + VERIFY_GRACE
        db.add(old)
    key = _new_key()
    db.add(key)
    await db.flush()
    return key, [old.kid for old in retiring]


async def verification_keys(*, db: AsyncSession, now: datetime | None = None) -> list[SigningKey]:
    """Every key a token may still be signed with: the active one and retired ones within their window."""
    moment = now or utc_now()
    statement = select(SigningKey).where(
        or_(col(SigningKey.verify_until).is_(None), col(SigningKey.verify_until) > moment)
    )
    return list((await db.exec(statement.order_by(col(SigningKey.id)))).all())
