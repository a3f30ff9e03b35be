"""authlib's AuthorizationServer ported to Starlette, backed by the gateway's database.

authlib is synchronous, the database is async. Endpoints read the form on the event loop, then run
authlib in a worker thread (so signing and hashing never block the loop); authlib's storage hooks call
back into the loop with anyio.from_thread.run, using the request's session from a context variable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

import jwt as pyjwt
from anyio import from_thread
from authlib.oauth2 import AuthorizationServer, rfc9207
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
    list_to_scope,
    scope_to_list,
)
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import service
from gateway.auth.hashing import digest, new_token
from gateway.auth.keys import SIGNING_ALGORITHM, active_signing_key
from gateway.auth.models import AuthorizationCode, IssuedToken, OAuthClient, User
from gateway.auth.principal import Role, Scope, scopes_for_roles
from gateway.auth.tokens import InvalidToken
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.organisations.models import Organisation
from gateway.settings import Settings

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


async def _client_by_id(client_id: str) -> OAuthClient | None:
    client = await service.find_client(db=current_db.get(), client_id=client_id)
    return client if client is not None and client.active else None


async def _user_if_active(user_id: int) -> User | None:
    user = await current_db.get().get(User, user_id)
    if user is None or not user.active:
        return None
    organisation = await current_db.get().get(Organisation, user.organisation_id)
    return user if organisation is not None and organisation.active else None


async def _consume_code(code: str, client_pk: int) -> AuthorizationCode | None:
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


async def _consume_refresh_token(refresh_token: str) -> tuple[IssuedToken, str] | None:
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


async def _remember_assertion(client_pk: int, jti: str, expires_at: datetime) -> bool:
    return await _in_own_transaction(
        lambda own: service.remember_client_assertion(db=own, client_pk=client_pk, jti=jti, expires_at=expires_at)
    )


async def _find_token(
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
        user_active = await _user_if_active(row.user_id) is not None
    return TokenAdapter(row, client_id, is_refresh=is_refresh, inactive=not (client_active and user_active))


# ---------------------------------------------------------------------------------------------------------
# Grants, client authentication, endpoints


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code: str, request: GatewayOAuth2Request) -> None:
        user: UserAdapter = request.user
        roles = frozenset(Role(r) for r in user.row.roles if r in Role._value2member_map_)
        # A person's token never carries more than their roles allow, whatever the client may hold.
        scope = list_to_scope([s for s in scope_to_list(request.scope or "") if s in scopes_for_roles(roles)])
        data = request.payload.data
        row = AuthorizationCode(
            code_hash=digest(code),
            client_pk=request.client.row.id,
            user_id=user.row.id or 0,
            redirect_uri=data["redirect_uri"],
            scope=scope,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            expires_at=utc_now() + timedelta(seconds=self.server.settings.authorization_code_ttl_seconds),
        )

        async def store() -> None:
            current_db.get().add(row)
            await current_db.get().flush()

        on_loop(store)

    def query_authorization_code(self, code: str, client: ClientAdapter) -> CodeAdapter | None:
        row = on_loop(_consume_code, code, client.row.id or 0)
        return CodeAdapter(row) if row is not None else None

    def delete_authorization_code(self, authorization_code: CodeAdapter) -> None:
        pass  # already spent atomically in query_authorization_code

    def authenticate_user(self, authorization_code: CodeAdapter) -> UserAdapter | None:
        user = on_loop(_user_if_active, authorization_code.row.user_id)
        return UserAdapter(user) if user is not None else None


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenAdapter | None:
        found = on_loop(_consume_refresh_token, refresh_token)
        if found is None:
            return None
        row, client_id = found
        return TokenAdapter(row, client_id, is_refresh=True)

    def authenticate_user(self, refresh_token: TokenAdapter) -> UserAdapter:
        user = on_loop(_user_if_active, refresh_token.row.user_id) if refresh_token.row.user_id else None
        if user is None:
            raise InvalidGrantError("The account this refresh token belongs to is no longer active.")
        return UserAdapter(user)

    def revoke_old_credential(self, refresh_token: TokenAdapter) -> None:
        async def revoke() -> None:
            await service.revoke_token(db=current_db.get(), token=refresh_token.row, with_family=False)

        on_loop(revoke)


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE on every authorisation request, S256 only: authlib alone would let `plain` or none through."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class PrivateKeyJWTAuthentication(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client assertions signed with the client's registered key; each jti is accepted once."""

    CLIENT_AUTH_METHOD = service.PRIVATE_KEY_JWT

    def __init__(self, audiences: list[str]) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._audiences = audiences

    def get_audiences(self) -> list[str]:
        return self._audiences

    def resolve_client_public_key(self, client: ClientAdapter) -> KeySet:
        return KeySet.import_key_set(cast(Any, client.row.jwks or {"keys": []}))

    def verify_claims(self, claims: Any) -> None:
        super().verify_claims(claims)
        if int(claims["exp"]) - int(utc_now().timestamp()) > CLIENT_ASSERTION_MAX_LIFETIME + self.leeway:
            raise InvalidClientError(description="The client assertion lives too long.")

    def validate_jti(self, claims: Any, jti: str) -> bool:
        client = on_loop(_client_by_id, str(claims["sub"]))
        if client is None:
            return False
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC) + timedelta(seconds=self.leeway)
        return bool(on_loop(_remember_assertion, client.id or 0, jti, expires_at))


class AccessTokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 access tokens (typ at+jwt), ES256 with the active key's kid."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            issuer=settings.issuer_url,
            alg=SIGNING_ALGORITHM,
            refresh_token_generator=self._refresh_token,
            expires_generator=lambda client, grant_type: settings.access_token_ttl_seconds,
        )
        self.settings = settings

    @staticmethod
    def _refresh_token(*, client: ClientAdapter, grant_type: str, user: UserAdapter | None, scope: str) -> str | None:
        return new_token(48) if user is not None else None

    def get_jwks(self) -> KeySet:
        key = on_loop(lambda: active_signing_key(db=current_db.get()))
        if key is None:
            raise RuntimeError("no signing key: run `gateway keys rotate` or `gateway seed demo`")
        # A KeySet (not a bare key) makes joserfc put the kid in the header.
        return KeySet([ECKey.import_key(json.loads(key.private_jwk))])

    def get_audiences(self, client: ClientAdapter, user: UserAdapter | None, scope: str) -> str:
        return self.settings.audience  # one string, so resource servers can demand an exact match

    def get_extra_claims(
        self, client: ClientAdapter, grant_type: str, user: UserAdapter | None, scope: str
    ) -> dict[str, Any]:
        return {"gty": grant_type}


class TokenRevocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenAdapter | None:
        return on_loop(_find_token, token_string, token_type_hint, self.server.verify_access_token)

    def revoke_token(self, token: TokenAdapter, request: GatewayOAuth2Request) -> None:
        async def revoke() -> None:
            await service.revoke_token(db=current_db.get(), token=token.row, with_family=token.is_refresh)

        on_loop(revoke)


class TokenIntrospection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenAdapter | None:
        return on_loop(_find_token, token_string, token_type_hint, self.server.verify_access_token)

    def check_permission(self, token: TokenAdapter, client: ClientAdapter, request: GatewayOAuth2Request) -> bool:
        return token.check_client(client) or Scope.ADMIN.value in client.row.scopes

    def introspect_token(self, token: TokenAdapter) -> dict[str, Any]:
        settings: Settings = self.server.settings
        row = token.row
        expires = row.refresh_expires_at if token.is_refresh and row.refresh_expires_at else row.expires_at
        return {
            "active": True,
            "token_type": "refresh_token" if token.is_refresh else "Bearer",
            "client_id": token.client_id,
            "scope": row.scope,
            "sub": f"user:{row.user_id}" if row.user_id is not None else token.client_id,
            "aud": settings.audience,
            "iss": settings.issuer_url,
            "exp": int(expires.timestamp()),
            "iat": int(row.issued_at.timestamp()),
        }


class IssuerParameter(rfc9207.IssuerParameter):  # type: ignore[misc]
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class GatewayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """The gateway's OAuth 2 authorisation server: client credentials, code with PKCE, refresh rotation."""

    def __init__(self, settings: Settings, verify_access_token: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
        super().__init__(scopes_supported=[s.value for s in Scope])
        self.settings = settings
        self.verify_access_token = verify_access_token
        issuer = settings.issuer_url
        self.register_token_generator("default", AccessTokenGenerator(settings))
        self.register_client_auth_method(
            service.PRIVATE_KEY_JWT, PrivateKeyJWTAuthentication([f"{issuer}/oauth/token", issuer])
        )
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(TokenRevocation)
        self.register_endpoint(TokenIntrospection)
        self.register_extension(IssuerParameter(issuer))

    def query_client(self, client_id: str) -> ClientAdapter | None:
        row = on_loop(_client_by_id, client_id)
        return ClientAdapter(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: GatewayOAuth2Request) -> None:
        claims = pyjwt.decode(token["access_token"], options={"verify_signature": False})
        client: ClientAdapter = request.client
        user: UserAdapter | None = request.user
        family_id = None
        if request.authorization_code is not None:
            family_id = request.authorization_code.family_id
        elif request.refresh_token is not None:
            family_id = request.refresh_token.row.family_id
        settings = self.settings
        on_loop(
            service.record_issued_token,
            db=current_db.get(),
            jti=claims["jti"],
            client=client.row,
            user_id=user.row.id if user is not None else None,
            organisation_id=user.row.organisation_id if user is not None else client.row.organisation_id,
            scope=token.get("scope", ""),
            issued_at=datetime.fromtimestamp(claims["iat"], UTC),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            refresh_token=token.get("refresh_token"),
            refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
            family_id=family_id,
        )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("build a GatewayOAuth2Request on the event loop first")

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("dynamic client registration is not offered")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> OAuthResponse:
        content = json.dumps(body) if isinstance(body, dict) else body
        response = OAuthResponse(content=content, status_code=status, headers=dict(headers))
        if isinstance(body, dict) and "content-type" not in {k.lower() for k, _ in headers}:
            response.headers["content-type"] = "application/json"
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass  # authlib's hook for framework signals; the gateway logs what it needs where it happens
