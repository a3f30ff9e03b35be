"""The staff portal's sessions and its OAuth client: the server keeps the tokens, the browser an opaque cookie.

The portal (gateway/web) is a confidential client of the gateway's own authorisation server, using the
authorisation code with PKCE like any other browser application. What it must remember between requests, the
PKCE verifier while signing in, then the person's tokens and the drafts of unfinished forms, is sealed (encrypted
and authenticated) with a key derived from the session secret and kept in portal_sessions. The row is found by a
keyed hash of the cookie, so neither a stolen database nor a stolen log line yields a usable session.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete
from sqlmodel import col, select

from gateway.auth.hashing import hash_password, keyed_digest, new_token
from gateway.auth.models import OAuthClient, PortalSession
from gateway.auth.principal import Scope
from gateway.auth.service import BROWSER_GRANT_TYPES, CLIENT_SECRET_BASIC, organisation_by_slug
from gateway.clock import utc_now
from gateway.db import AsyncSession

PORTAL_CLIENT_ID = "staff-portal"
CALLBACK_PATH = "/portal/callback"
IDLE_LIMIT = timedelta(minutes=30)
SIGN_IN_LIMIT = timedelta(minutes=10)  # from the sign-in page to the callback
LIFETIME_LIMIT = timedelta(hours=12)  # however active, a working day at most


def portal_client_secret(session_secret: str) -> str:
    """The portal's client secret, derived so that only a process holding the session secret can use the client."""
    return keyed_digest(session_secret, "portal-client-secret")


def portal_redirect_uri(issuer_url: str) -> str:
    return issuer_url.rstrip("/") + CALLBACK_PATH


async def ensure_portal_client(
    *, db: AsyncSession, organisation_slug: str, issuer_url: str, session_secret: str
) -> OAuthClient:
    """Register the portal's client, or bring it up to date with the current secret and address; idempotent."""
    client = (await db.exec(select(OAuthClient).where(OAuthClient.client_id == PORTAL_CLIENT_ID))).first()
    if client is None:
        organisation = await organisation_by_slug(db=db, slug=organisation_slug)
        client = OAuthClient(
            client_id=PORTAL_CLIENT_ID,
            organisation_id=organisation.id or 0,
            name="Staff portal",
            auth_method=CLIENT_SECRET_BASIC,
            grant_types=BROWSER_GRANT_TYPES,
        )
    # A person's token never carries more than their roles allow (principal_from); the client may ask for any.
    client.scopes = sorted(s.value for s in Scope)
    client.redirect_uris = [portal_redirect_uri(issuer_url)]
    client.secret_hash = hash_password(portal_client_secret(session_secret))
    db.add(client)
    await db.flush()
    return client


class SealedBox:
    """Authenticated encryption of the session's contents under a key derived from the session secret."""

    def __init__(self, session_secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway portal session").derive(
            session_secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, contents: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(contents, separators=(",", ":")).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        if not sealed:
            return {}
        try:
            opened = json.loads(self._fernet.decrypt(sealed.encode()))
        except (InvalidToken, ValueError):
            return {}  # sealed under an older secret: treated as empty, so the person signs in again
        return opened if isinstance(opened, dict) else {}


@dataclass
class OpenSession:
    """A portal session found by its cookie, with its contents unsealed."""

    row: PortalSession
    contents: dict[str, Any]

    @property
    def signed_in(self) -> bool:
        return self.row.user_id is not None


class PortalSessions:
    """Create, find, rotate and end portal sessions."""

    def __init__(self, session_secret: str) -> None:
        self._secret = session_secret
        self.box = SealedBox(session_secret)

    def _digest(self, cookie: str) -> str:
        return keyed_digest(self._secret, "portal-session:" + cookie)

    async def create(
        self, *, db: AsyncSession, contents: dict[str, Any], user_id: int | None = None
    ) -> tuple[str, OpenSession]:
        """A new session and the cookie value that finds it; the value itself is never stored."""
        now = utc_now()
        cookie = new_token(32)
        lifetime = SIGN_IN_LIMIT if user_id is None else LIFETIME_LIMIT
        row = PortalSession(
            key_digest=self._digest(cookie),
            user_id=user_id,
            sealed=self.box.seal(contents),
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
        db.add(row)
        await db.flush()
        return cookie, OpenSession(row=row, contents=contents)

    async def find(self, *, db: AsyncSession, cookie: str, now: datetime | None = None) -> OpenSession | None:
        """The live session for this cookie; an expired or idle one is deleted and not returned."""
        if not cookie or len(cookie) > 128:
            return None
        row = (await db.exec(select(PortalSession).where(PortalSession.key_digest == self._digest(cookie)))).first()
        if row is None:
            return None
        now = now or utc_now()
        if now >= row.expires_at or (row.user_id is not None and now - row.last_seen_at >= IDLE_LIMIT):
            await db.delete(row)
            await db.flush()
            return None
        return OpenSession(row=row, contents=self.box.open(row.sealed))

    async def save(self, *, db: AsyncSession, session: OpenSession, touch: bool = True) -> None:
        session.row.sealed = self.box.seal(session.contents)
        if touch:
            session.row.last_seen_at = utc_now()
        db.add(session.row)
        await db.flush()

    async def end(self, *, db: AsyncSession, session: OpenSession) -> None:
        await db.exec(delete(PortalSession).where(col(PortalSession.id) == session.row.id))

    async def end_all_for_user(self, *, db: AsyncSession, user_id: int) -> None:
        await db.exec(delete(PortalSession).where(col(PortalSession.user_id) == user_id))

    async def purge_expired(self, *, db: AsyncSession, now: datetime | None = None) -> int:
        now = now or utc_now()
        result = await db.exec(delete(PortalSession).where(col(PortalSession.expires_at) <= now))
        return int(getattr(result, "rowcount", 0) or 0)
