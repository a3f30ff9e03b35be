"""The bridge between authlib (synchronous, in a worker thread) and the async database.

Endpoints read the form on the event loop, then run authlib in a worker thread (so signing and hashing never block
the loop); authlib's storage hooks call back into the loop with anyio.from_thread.run, using the request's session
from a context variable. Here: that bridge, authlib's request and response types, and the adapters and lookups its
hooks use.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from anyio import from_thread
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    list_to_scope,
    scope_to_list,
)
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import service
from gateway.auth.hashing import digest
from gateway.auth.models import AuthorizationCode, IssuedToken, OAuthClient, User
from gateway.auth.tokens import InvalidToken
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.organisations.models import Organisation

log = logging.getLogger("gateway.oauth")
T = TypeVar("T")

TOKEN_AUTH_METHODS = [service.CLIENT_SECRET_BASIC, service.PRIVATE_KEY_JWT]
CLIENT_ASSERTION_MAX_LIFETIME = 3600  # authlib's own client signs for an hour; nothing longer is accepted

current_db: ContextVar[AsyncSession] = ContextVar("current_db")
current_session_factory: ContextVar[async_sessionmaker[AsyncSession]] = ContextVar("current_session_factory")


def on_loop(function: Callable[..., Coroutine[Any, Any, T]], /, *args: Any, **kwargs: Any) -> T:
    """Run an async storage call on the event loop from authlib's worker thread."""
    return from_thread.run(partial(function, *args, **kwargs))


async def _in_own_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    # Security side effects (a replayed assertion, a reused refresh token) must persist even though the
    # request that revealed them fails and rolls back.
    async with current_session_factory.get()() as db, db.begin():
        return await work(db)


# ---------------------------------------------------------------------------------------------------------
# Requests and responses


class GatewayPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: Mapping[str, str], multi: list[tuple[str, str]]) -> None:
        self._data = dict(values)
        self._datalist: dict[str, list[str]] = {}
        for key, value in multi:
            self._datalist.setdefault(key, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class GatewayOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """A Starlette request with its form already read: POST endpoints read the body, never the query."""

    def __init__(self, request: Request, form: FormData | None) -> None:
        super().__init__(method=request.method, uri=str(request.url), headers=request.headers)
        self._args = request.query_params
        self._form = form if form is not None else FormData()
        source: FormData | QueryParams = self._form if request.method == "POST" else self._args
        multi = [(k, v) for k, v in source.multi_items() if isinstance(v, str)]
        self.payload = GatewayPayload(dict(multi), multi)

    @property
    def args(self) -> QueryParams:
        return self._args

    @property
    def form(self) -> FormData:
        return self._form


class OAuthResponse(Response):
    """A response whose Location can be rewritten, as authlib's RFC 9207 extension does."""

    @property
    def location(self) -> str | None:
        return self.headers.get("location")

    @location.setter
    def location(self, value: str) -> None:
        self.headers["location"] = value


# ---------------------------------------------------------------------------------------------------------
# What authlib sees of the gateway's rows


class ClientAdapter(ClientMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # the redirect URI is always required and must match exactly

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.row.scopes
        if not scope:
            return list_to_scope(sorted(allowed))  # type: ignore[no-any-return]
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])  # type: ignore[no-any-return]

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        from gateway.auth.hashing import verify_password

        return self.row.secret_hash is not None and verify_password(self.row.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return self.row.active and method == self.row.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return self.row.active and grant_type in self.row.grant_types


class UserAdapter:
    def __init__(self, row: User) -> None:
        self.row = row

    def get_user_id(self) -> str:
        return f"user:{self.row.id}"


class CodeAdapter(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    @property
    def family_id(self) -> str:
        return self.row.code_hash[:32]


class TokenAdapter(TokenMixin):  # type: ignore[misc]
    def __init__(self, row: IssuedToken, client_id: str, *, is_refresh: bool, inactive: bool = False) -> None:
        self.row = row
        self.client_id = client_id
        self.is_refresh = is_refresh
        self.inactive = inactive

    def check_client(self, client: ClientAdapter) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        limit = self.row.refresh_expires_at if self.is_refresh else self.row.expires_at
        return limit is None or limit <= utc_now()

    def is_revoked(self) -> bool:
        return (
            self.inactive
            or self.row.revoked_at is not None
            or (self.is_refresh and self.row.refresh_used_at is not None)
        )


# ---------------------------------------------------------------------------------------------------------
# Storage, called from authlib's hooks through on_loop


async def client_by_id(client_id: str) -> OAuthClient | None:
    client = await service.find_client(db=current_db.get(), client_id=client_id)
    return client if client is not None and client.active else None


async def user_if_active(user_id: int) -> User | None:
    user = await current_db.get().get(User, user_id)
    if user is None or not user.active:
        return None
    organisation = await current_db.get().get(Organisation, user.organisation_id)
    return user if organisation is not None and organisation.active else None


async def consume_code(code: str, client_pk: int) -> AuthorizationCode | None:
    """Spend a code once; a second use revokes what the first one produced (RFC 6749 §4.1.2)."""
    db, now = current_db.get(), utc_now()
    code_hash = digest(code)
    row = (await db.exec(select(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash))).first()
    if row is None:
        return None
    if row.used_at is not None:
        await _in_own_transaction(lambda own: service.revoke_family(db=own, family_id=code_hash[:32]))
        log.warning("authorization code reused; tokens it produced are revoked", extra={"client_pk": client_pk})
        return None
    spent = await db.exec(
        update(AuthorizationCode)
        .where(col(AuthorizationCode.id) == row.id, col(AuthorizationCode.used_at).is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1 or row.client_pk != client_pk or row.expires_at <= now:
        return None
    return row


async def consume_refresh_token(refresh_token: str) -> tuple[IssuedToken, str] | None:
    """Spend a refresh token once; presenting a spent one revokes its whole family."""
    db, now = current_db.get(), utc_now()
    statement = (
        select(IssuedToken, OAuthClient.client_id)
        .join(OAuthClient, col(OAuthClient.id) == col(IssuedToken.client_pk))
        .where(IssuedToken.refresh_token_hash == digest(refresh_token))
    )
    found = (await db.exec(statement)).first()
    if found is None:
        return None
    row, client_id = found
    if row.refresh_used_at is not None or row.revoked_at is not None:
        if row.family_id:
            family = row.family_id
            await _in_own_transaction(lambda own: service.revoke_family(db=own, family_id=family))
        log.warning("refresh token replayed; its family is revoked", extra={"token_id": row.id})
        return None
    spent = await db.exec(
        update(IssuedToken)
        .where(col(IssuedToken.id) == row.id, col(IssuedToken.refresh_used_at).is_(None))
        .values(refresh_used_at=now)
    )
    if spent.rowcount != 1 or row.refresh_expires_at is None or row.refresh_expires_at <= now:
        return None
    return row, client_id


async def remember_assertion(client_pk: int, jti: str, expires_at: datetime) -> bool:
    return await _in_own_transaction(
        lambda own: service.remember_client_assertion(db=own, client_pk=client_pk, jti=jti, expires_at=expires_at)
    )


async def find_token(
    token_string: str, hint: str | None, verify: Callable[[str], Awaitable[dict[str, Any]]]
) -> TokenAdapter | None:
    db = current_db.get()
    base = select(IssuedToken, OAuthClient.client_id, OAuthClient.active).join(
        OAuthClient, col(OAuthClient.id) == col(IssuedToken.client_pk)
    )
    found = None
    is_refresh = False
    if hint != "access_token":
        found = (await db.exec(base.where(IssuedToken.refresh_token_hash == digest(token_string)))).first()
        is_refresh = found is not None
    if found is None and hint != "refresh_token":
        try:
            claims = await verify(token_string)
        except InvalidToken:
            return None
        found = (await db.exec(base.where(IssuedToken.jti == str(claims["jti"])))).first()
    if found is None:
        return None
    row, client_id, client_active = found
    user_active = True
    if row.user_id is not None:
        user_active = await user_if_active(row.user_id) is not None
    return TokenAdapter(row, client_id, is_refresh=is_refresh, inactive=not (client_active and user_active))
