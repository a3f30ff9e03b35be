"""HTTP endpoints of the authorisation server: metadata, JWKS, token, authorize (sign-in), revoke, introspect."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway.auth import service
from gateway.auth.bridge import GatewayOAuth2Request, UserAdapter, current_db, current_session_factory
from gateway.auth.hashing import keyed_digest, new_token, spend_equal_time, verify_password
from gateway.auth.keys import SIGNING_ALGORITHM, verification_keys
from gateway.auth.models import User
from gateway.auth.principal import Scope
from gateway.auth.server import GatewayAuthorizationServer
from gateway.client_address import client_address, throttle_key
from gateway.db import AsyncSession
from gateway.settings import Settings

log = logging.getLogger("gateway.oauth")
CSRF_COOKIE = "gateway_csrf"
AUTHORIZE_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The sign-in page loads nothing (no script, style, image or font), may be framed by nobody and sends no referrer.
PAGE_HEADERS = {
    **NO_STORE,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PAGE_POLICY = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
# An origin as a CSP source: scheme, host and port only, so nothing from the form can add a directive.
_ORIGIN_NETLOC = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _redirect_origin(redirect_uri: str) -> str | None:
    try:
        parts = urlsplit(redirect_uri)
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not _ORIGIN_NETLOC.fullmatch(parts.netloc):
        return None
    return f"{parts.scheme}://{parts.netloc}"


# The sign-in form in a design of the deployer's choosing (the staff portal's GOV.UK page): hidden authorisation
# parameters, the CSRF token and the message in, the page's HTML out; with the CSP its assets need.
LoginRenderer = Callable[[dict[str, str], str, "str | None"], str]


def page_headers(redirect_uri: str = "", policy: str = PAGE_POLICY) -> dict[str, str]:
    """Headers for the sign-in pages. The form posts to the gateway, whose answer redirects to the client: browsers
    apply form-action to that redirect too, so the client's origin is allowed as well."""
    origin = _redirect_origin(redirect_uri)
    policy = f"{policy} {origin}" if origin else policy
    return {**PAGE_HEADERS, "Content-Security-Policy": policy}


def metadata_document(settings: Settings) -> dict[str, Any]:
    """RFC 8414 metadata: every endpoint, grant, authentication method and algorithm offered."""
    issuer = settings.issuer_url
    methods = [service.CLIENT_SECRET_BASIC, service.PRIVATE_KEY_JWT]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "scopes_supported": [s.value for s in Scope],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256", "RS256"],
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256", "RS256"],
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256", "RS256"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "access_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
    }


class AuthorizationEndpoints:
    """The authorisation server's routes, bound to one server and one session factory."""

    def __init__(
        self,
        settings: Settings,
        server: GatewayAuthorizationServer,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        self.settings = settings
        self.server = server
        self.session_factory = session_factory
        self.login_renderer: LoginRenderer | None = None
        self.login_policy = PAGE_POLICY
        self.login_limits = service.LoginLimits(
            per_account_from_one_address=settings.login_max_failures,
            per_account=settings.login_account_max_failures,
            per_address=settings.login_address_max_failures,
            lockout_seconds=settings.login_lockout_seconds,
        )

    def routes(self) -> list[Route]:
        return [
            Route("/.well-known/oauth-authorization-server", self.metadata, methods=["GET"]),
            Route("/oauth/jwks", self.jwks, methods=["GET"]),
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/oauth/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/oauth/revoke", self.revoke, methods=["POST"]),
            Route("/oauth/introspect", self.introspect, methods=["POST"]),
        ]

    async def metadata(self, request: Request) -> JSONResponse:
        return JSONResponse(metadata_document(self.settings))

    async def jwks(self, request: Request) -> JSONResponse:
        async with self.session_factory() as db:
            keys = await verification_keys(db=db)
        return JSONResponse({"keys": [dict(k.public_jwk) for k in keys]})

    async def _run(self, request: Request, call: Any, *args: Any) -> Response:
        """Run an authlib call in a worker thread inside one transaction, committed only on success."""
        try:
            oauth_request = GatewayOAuth2Request(request, await request.form() if request.method == "POST" else None)
        except InsecureTransportError as error:
            return self.server.handle_error_response(None, error)  # type: ignore[no-any-return]
        async with self.session_factory() as db:
            db_token = current_db.set(db)
            factory_token = current_session_factory.set(self.session_factory)
            try:
                response: Response = await run_in_threadpool(call, oauth_request, *args)
                if response.status_code < 400:
                    await db.commit()
                else:
                    await db.rollback()
            finally:
                current_db.reset(db_token)
                current_session_factory.reset(factory_token)
        response.headers.update(NO_STORE)
        return response

    async def token(self, request: Request) -> Response:
        return await self._run(request, self.server.create_token_response)

    async def revoke(self, request: Request) -> Response:
        return await self._run(request, lambda r: self.server.create_endpoint_response("revocation", r))

    async def introspect(self, request: Request) -> Response:
        return await self._run(request, lambda r: self.server.create_endpoint_response("introspection", r))

    # -- sign-in ------------------------------------------------------------------------------------------

    def _validate_authorization_request(self, oauth_request: GatewayOAuth2Request) -> Response | None:
        try:
            self.server.get_consent_grant(request=oauth_request, end_user=None)
        except OAuth2Error as error:
            response = self.server.handle_error_response(oauth_request, error)
            if response.status_code in (302, 303):
                self.server.execute_hook("after_create_authorization_response", response)
            return response  # type: ignore[no-any-return]
        return None

    def _issue_code(self, oauth_request: GatewayOAuth2Request, user: User) -> Response:
        grant = self.server.get_consent_grant(request=oauth_request, end_user=UserAdapter(user))
        return self.server.create_authorization_response(  # type: ignore[no-any-return]
            oauth_request, grant_user=UserAdapter(user), grant=grant
        )

    async def authorize(self, request: Request) -> Response:
        if request.method == "GET":
            # Check client, redirect URI, PKCE and scope before showing any form.
            refusal = await self._run(request, self._validate_authorization_request_or_ok)
            if refusal.status_code != 200:
                return refusal
            return self._login_page(dict(request.query_params), message=None)
        form = await request.form()
        fields = {k: str(form.get(k, "")) for k in AUTHORIZE_PARAMETERS}
        if not self._csrf_ok(request, str(form.get("csrf_token", ""))):
            return HTMLResponse(
                "The sign-in form expired. Go back and try again.",
                status_code=400,
                headers=page_headers(policy=self.login_policy),
            )
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        user, refusal_message = await self._sign_in(request, email, password)
        if user is None:
            return self._login_page(fields, message=refusal_message, status_code=401)
        return await self._run(request, self._issue_code, user)

    def _validate_authorization_request_or_ok(self, oauth_request: GatewayOAuth2Request) -> Response:
        return self._validate_authorization_request(oauth_request) or Response(status_code=200)

    async def _sign_in(self, request: Request, email: str, password: str) -> tuple[User | None, str]:
        """The active user with this e-mail and password, or None and a message that reveals nothing."""
        generic = "That e-mail address and password do not match an active account."
        settings = self.settings
        keys = service.sign_in_keys(
            session_secret=settings.session_secret,
            email=email,
            address_key=throttle_key(client_address(request, settings)),
        )
        try:
            # Committed before the password is checked: a parallel guess sees this one counted.
            async with self.session_factory() as db, db.begin():
                claim = await service.claim_sign_in_attempt(db=db, keys=keys, limits=self.login_limits)
                user = (await db.exec(select(User).where(User.email == service.normalise_email(email)))).first()
        except service.SignInThrottled as refusal:
            log.info("sign-in refused by the throttle", extra={"throttle": refusal.counter})
            return None, "Too many failed attempts. Wait a few minutes before trying again."
        if user is None:
            await run_in_threadpool(spend_equal_time)
            valid = False
        else:
            valid = await run_in_threadpool(verify_password, user.password_hash, password) and user.active
        async with self.session_factory() as db, db.begin():
            await service.settle_sign_in_attempt(
                db=db,
                claim=claim,
                succeeded=valid,
                user_id=user.id if user is not None else None,
                lockout_seconds=settings.login_lockout_seconds,
            )
        if not valid or user is None:
            log.info("sign-in refused")
            return None, generic
        return user, ""

    def _csrf_ok(self, request: Request, submitted: str) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        expected = keyed_digest(self.settings.session_secret, nonce) if nonce else ""
        return bool(nonce) and hmac.compare_digest(expected, submitted)

    def _login_page(self, fields: dict[str, str], *, message: str | None, status_code: int = 200) -> HTMLResponse:
        nonce = new_token(24)
        hidden = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(fields.get(k, ""))}">'
            for k in AUTHORIZE_PARAMETERS
        )
        alert = f'<p role="alert">{escape(message)}</p>' if message else ""
        csrf = keyed_digest(self.settings.session_secret, nonce)
        if self.login_renderer is not None:
            hidden_fields = {k: fields.get(k, "") for k in AUTHORIZE_PARAMETERS}
            response = HTMLResponse(
                self.login_renderer(hidden_fields, csrf, message),
                status_code=status_code,
                headers=page_headers(fields.get("redirect_uri", ""), self.login_policy),
            )
            self._set_csrf_cookie(response, nonce)
            return response
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Referral gateway</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Sign in to the referral gateway</h1>{alert}
<form method="post" action="/oauth/authorize">
<input type="hidden" name="csrf_token" value="{csrf}">{hidden}
<label>E-mail address <input type="email" name="email" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></main></body></html>"""
        response = HTMLResponse(page, status_code=status_code, headers=page_headers(fields.get("redirect_uri", "")))
        self._set_csrf_cookie(response, nonce)
        return response

    def _set_csrf_cookie(self, response: Response, nonce: str) -> None:
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=self.settings.issuer_url.startswith("https://"),
            path="/oauth/authorize",
        )
