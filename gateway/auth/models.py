"""Tables of the authorisation server: people, machine clients, signing keys, tokens, codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = [
    "AuthorizationCode",
    "ClientAssertionUse",
    "IssuedToken",
    "LoginThrottle",
    "OAuthClient",
    "PortalSession",
    "SigningKey",
    "User",
    "metadata",
]

UTC_DATETIME = UTCDateTime()


class User(SQLModel, table=True):
    """A member of staff who signs in through the browser."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True}, nullable=False)
    password_hash: str = Field(max_length=255, nullable=False)
    roles: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    active: bool = Field(default=True, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)


class OAuthClient(SQLModel, table=True):
    """A registered OAuth client: a partner's system (client credentials) or a browser application."""

    __tablename__ = "oauth_clients"

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    name: str = Field(max_length=200, nullable=False)
    auth_method: str = Field(max_length=40, nullable=False)  # client_secret_basic | private_key_jwt
    secret_hash: str | None = Field(default=None, max_length=255)
    jwks: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    scopes: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    grant_types: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    redirect_uris: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    active: bool = Field(default=True, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    disabled_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)


class SigningKey(SQLModel, table=True):
    """A key the server signs access tokens with; retired keys verify until their tokens expire."""

    __tablename__ = "signing_keys"

    id: int | None = Field(default=None, primary_key=True)
    kid: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    algorithm: str = Field(max_length=10, nullable=False)
    private_jwk: str = Field(sa_type=sa.Text, nullable=False)
    public_jwk: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    retired_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    verify_until: datetime | None = Field(default=None, sa_type=UTC_DATETIME)


class IssuedToken(SQLModel, table=True):
    """One issued access token (by jti) and, for people, its refresh token (by hash) and family."""

    __tablename__ = "issued_tokens"

    id: int | None = Field(default=None, primary_key=True)
    jti: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    client_pk: int = Field(foreign_key="oauth_clients.id", nullable=False, index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    organisation_id: int = Field(foreign_key="organisations.id", nullable=False)
    scope: str = Field(sa_type=sa.Text, nullable=False)
    issued_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)
    expires_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    refresh_token_hash: str | None = Field(default=None, max_length=64, sa_column_kwargs={"unique": True})
    refresh_expires_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    refresh_used_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    family_id: str | None = Field(default=None, max_length=64, index=True)


class AuthorizationCode(SQLModel, table=True):
    """A single-use authorisation code, stored by hash, bound to client, redirect URI and PKCE challenge."""

    __tablename__ = "authorization_codes"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    client_pk: int = Field(foreign_key="oauth_clients.id", nullable=False)
    user_id: int = Field(foreign_key="users.id", nullable=False)
    redirect_uri: str = Field(max_length=2000, nullable=False)
    scope: str = Field(sa_type=sa.Text, nullable=False)
    code_challenge: str = Field(max_length=128, nullable=False)
    code_challenge_method: str = Field(max_length=10, nullable=False)
    expires_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)


class ClientAssertionUse(SQLModel, table=True):
    """A client assertion's jti, remembered until it expires so a replay is refused."""

    __tablename__ = "client_assertion_uses"
    __table_args__ = (sa.UniqueConstraint("client_pk", "jti"),)

    id: int | None = Field(default=None, primary_key=True)
    client_pk: int = Field(foreign_key="oauth_clients.id", nullable=False)
    jti: str = Field(max_length=255, nullable=False)
    expires_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False)


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins per throttle key: an account, an account from one network, or a network (see the throttle in
    service.py). Keys are keyed hashes, so no e-mail or network address is stored. `locked_until` ends the counting
    window, and once `failures` reaches its limit it is the end of the lock."""

    __tablename__ = "login_throttles"

    id: int | None = Field(default=None, primary_key=True)
    account_key: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    failures: int = Field(default=0, nullable=False)
    locked_until: datetime | None = Field(default=None, sa_type=UTC_DATETIME)


class PortalSession(SQLModel, table=True):
    """A browser's session with the staff portal (gateway/web): the portal holds the person's tokens, the browser
    holds only an opaque cookie. Found by a keyed hash of the cookie; the tokens and the drafts of unfinished forms
    are encrypted with a key derived from the session secret. A row without a user is a sign-in in progress."""

    __tablename__ = "portal_sessions"

    id: int | None = Field(default=None, primary_key=True)
    key_digest: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    sealed: str = Field(default="", sa_type=sa.Text, nullable=False)  # tokens, PKCE verifier, drafts
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    last_seen_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    expires_at: datetime = Field(sa_type=UTC_DATETIME, nullable=False, index=True)
