"""The portal's sign-in, sessions and page plumbing: every page handler receives a Visit, never a raw session.

Sign-in is the gateway's own authorisation server, the portal being a confidential client (authorisation code
with PKCE) whose token requests are made in-process through the token endpoint itself: the same client
authentication, code checks and token issue as any other client, without a network hop to itself. The browser
gets one opaque cookie (HttpOnly, SameSite=Lax, Secure outside development) and a new one at sign-in.

Each page: the session is found and checked for idleness, the access token refreshed when near its end, verified,
and its state read again (revocation, deactivation, current roles), so a deactivated person is out on the next
click and a person's rights are what their roles allow now. The page's own work then runs in its own transaction.

What a page handler receives, the Visit, is in gateway/web/visit.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from jinja2 import Environment
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.auth import service as auth_service
from gateway.auth.http import AuthorizationEndpoints
from gateway.auth.models import PortalSession, User
from gateway.auth.portal_sessions import (
    PORTAL_CLIENT_ID,
    OpenSession,
    PortalSessions,
    portal_client_secret,
    portal_redirect_uri,
)
from gateway.auth.principal import Scope
from gateway.auth.tokens import InvalidToken, TokenVerifier
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.settings import Settings
from gateway.web.security import CSRF_FIELD, PAGE_HEADERS, csrf_ok
from gateway.web.templating import STATIC, build_environment
from gateway.web.visit import Handler, NotFoundPage, Visit

log = logging.getLogger("gateway.web")

COOKIE = "portal_session"
PREFIX = "/portal"
REFRESH_MARGIN_SECONDS = 60
IDLE_SECONDS = 30 * 60
WARNING_SECONDS = 2 * 60
MAX_FORM_FIELDS = 200
MAX_FORM_BYTES = 64 * 1024


@dataclass(frozen=True)
class NavigationItem:
    href: str
    text: str
    scopes: tuple[Scope, ...] = ()


class Portal:
    """The portal's routes and the plumbing its pages share."""

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        oauth: AuthorizationEndpoints,
        verifier: TokenVerifier,
        environment: Environment | None = None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.oauth = oauth
        self.verifier = verifier
        self.sessions = PortalSessions(settings.session_secret)
        self.environment = environment or build_environment()
        self.secure_cookie = not settings.is_development or settings.issuer_url.startswith("https://")
        self._page_routes: list[Route] = []
        self.sections: list[NavigationItem] = []
        self._refresh_locks = [asyncio.Lock() for _ in range(64)]

    # -- rendering -------------------------------------------------------------------------------------------

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        visit = context.setdefault("visit", None)
        if visit is not None:
            context.setdefault("request_path", visit.request.url.path)
            context.setdefault("flash", visit.flash_message)
        context.setdefault("idle_seconds", IDLE_SECONDS)
        context.setdefault("warning_seconds", WARNING_SECONDS)
        html = self.environment.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)

    def not_found(self, visit: Visit | None = None) -> HTMLResponse:
        return self.render("not_found.html", status_code=404, visit=visit)

    def login_page(self, hidden: dict[str, str], csrf: str, message: str | None) -> str:
        """The authorisation server's sign-in form, in the portal's design (injected into AuthorizationEndpoints)."""
        return self.environment.get_template("sign_in.html").render(
            hidden=hidden, csrf=csrf, message=message, visit=None
        )

    # -- routes ----------------------------------------------------------------------------------------------

    def page(
        self, path: str, handler: Handler, *, methods: tuple[str, ...] = ("GET",), scopes: tuple[Scope, ...] = ()
    ) -> None:
        """Register a signed-in page: `scopes` lists what the person needs, any one of them."""

        async def endpoint(request: Request) -> Response:
            return await self._serve(request, handler, scopes)

        self._page_routes.append(Route(PREFIX + path, endpoint, methods=list(methods)))

    def section(self, href: str, text: str, *scopes: Scope) -> None:
        """Add a section to the service navigation, shown to people with any of `scopes`."""
        self.sections.append(NavigationItem(href=href, text=text, scopes=scopes))

    def routes(self) -> list[Route | Mount]:
        return [
            Route(PREFIX, self._to_home, methods=["GET"]),
            Route(PREFIX + "/sign-in", self.sign_in, methods=["GET"]),
            Route(PREFIX + "/callback", self.callback, methods=["GET"]),
            Route(PREFIX + "/sign-out", self.sign_out, methods=["POST"]),
            Route(PREFIX + "/signed-out", self.signed_out, methods=["GET"]),
            Route(PREFIX + "/keep-alive", self.keep_alive, methods=["POST"]),
            *self._page_routes,
            Mount(PREFIX + "/assets", app=StaticFiles(directory=STATIC), name="portal-assets"),
        ]

    async def _to_home(self, request: Request) -> Response:
        return RedirectResponse(PREFIX + "/", status_code=303)

    # -- sign-in ----------------------------------------------------------------------------------------------

    async def sign_in(self, request: Request) -> Response:
        """Start the authorisation code flow: a pending session holds the state and the PKCE verifier."""
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        async with self.session_factory() as db, db.begin():
            await self.sessions.purge_expired(db=db)  # sessions nobody signed out of: an indexed delete, here
            cookie, _ = await self.sessions.create(db=db, contents={"state": state, "verifier": verifier})
        query = urlencode(
            {
                "response_type": "code",
                "client_id": PORTAL_CLIENT_ID,
                "redirect_uri": portal_redirect_uri(self.settings.issuer_url),
                "scope": " ".join(sorted(s.value for s in Scope)),
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        response = RedirectResponse("/oauth/authorize?" + query, status_code=303, headers=PAGE_HEADERS)
        self._set_cookie(response, cookie)
        return response

    async def callback(self, request: Request) -> Response:
        """The authorisation server sends the browser back here with a code; exchange it and rotate the cookie."""
        state = request.query_params.get("state", "")[:200]
        code = request.query_params.get("code", "")[:200]
        async with self.session_factory() as db, db.begin():
            pending = await self.sessions.find(db=db, cookie=request.cookies.get(COOKIE, ""))
            if pending is not None:
                await self.sessions.end(db=db, session=pending)  # single use, whatever happens next
        expected = str(pending.contents.get("state", "")) if pending is not None and not pending.signed_in else ""
        if not expected or not code or not secrets.compare_digest(expected, state):
            return self._sign_in_failed()
        answer = await self._token_request(
            request,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": portal_redirect_uri(self.settings.issuer_url),
                "code_verifier": str(pending.contents.get("verifier", "")) if pending else "",
            },
        )
        if answer is None:
            return self._sign_in_failed()
        try:
            claims = await self.verifier.verify(str(answer["access_token"]))
        except InvalidToken:
            return self._sign_in_failed()
        user_id = int(str(claims["sub"]).removeprefix("user:"))
        async with self.session_factory() as db, db.begin():
            cookie, _ = await self.sessions.create(
                db=db,
                user_id=user_id,
                contents={"tokens": _tokens(answer), "csrf": secrets.token_urlsafe(24)},
            )
        log.info("portal sign-in", extra={"user_id": user_id})
        response = RedirectResponse(PREFIX + "/", status_code=303, headers=PAGE_HEADERS)
        self._set_cookie(response, cookie)
        return response

    def _sign_in_failed(self) -> HTMLResponse:
        return self.render("sign_in_failed.html", status_code=400)

    async def sign_out(self, request: Request) -> Response:
        """Revoke the tokens, end the session, forget the cookie. Needs the form's CSRF token like any change."""
        form = await request.form(max_files=0, max_fields=10)
        async with self.session_factory() as db, db.begin():
            session = await self.sessions.find(db=db, cookie=request.cookies.get(COOKIE, ""))
            if session is None or not session.signed_in:
                return self._forget(RedirectResponse(PREFIX + "/signed-out", status_code=303, headers=PAGE_HEADERS))
            if not csrf_ok(
                self.settings.session_secret, str(session.contents.get("csrf", "")), str(form.get(CSRF_FIELD, ""))
            ):
                return self.render("form_expired.html", status_code=403)
            await self.sessions.end(db=db, session=session)
        await self._revoke(request, session)
        return self._forget(RedirectResponse(PREFIX + "/signed-out", status_code=303, headers=PAGE_HEADERS))

    async def signed_out(self, request: Request) -> Response:
        return self.render("signed_out.html")

    async def keep_alive(self, request: Request) -> Response:
        """The timeout warning's "stay signed in": touching the session is all it does."""
        form = await request.form(max_files=0, max_fields=10)
        async with self.session_factory() as db, db.begin():
            session = await self.sessions.find(db=db, cookie=request.cookies.get(COOKIE, ""))
            if session is None or not session.signed_in:
                return Response(status_code=401, headers=PAGE_HEADERS)
            if not csrf_ok(
                self.settings.session_secret, str(session.contents.get("csrf", "")), str(form.get(CSRF_FIELD, ""))
            ):
                return Response(status_code=403, headers=PAGE_HEADERS)
            await self.sessions.save(db=db, session=session)
        return Response(status_code=204, headers=PAGE_HEADERS)

    # -- each page ----------------------------------------------------------------------------------------------

    async def _serve(self, request: Request, handler: Handler, scopes: tuple[Scope, ...]) -> Response:
        visit = await self._visit(request)
        if visit is None:
            if request.method == "GET":
                return RedirectResponse(PREFIX + "/sign-in", status_code=303, headers=PAGE_HEADERS)
            return self._forget(self.render("session_ended.html", status_code=401))
        if scopes and not any(visit.has(s) for s in scopes):
            return self.not_found(visit)  # a page that is not yours looks like a page that is not there
        if request.method == "POST":
            refusal = await self._read_form(request, visit)
            if refusal is not None:
                return refusal
        try:
            return await handler(visit)
        except NotFoundPage:
            return self.not_found(visit)

    async def _read_form(self, request: Request, visit: Visit) -> Response | None:
        """Parse a page's form, bounded, and check its CSRF token; a refusal page, or None when it may proceed."""
        try:
            visit.form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_BYTES)
        except HTTPException:  # starlette answers a malformed form so; it changes nothing
            return self.render("form_expired.html", status_code=400, visit=visit)
        secret = str(visit.session.contents.get("csrf", ""))
        if not csrf_ok(self.settings.session_secret, secret, str(visit.form.get(CSRF_FIELD, ""))):
            log.info("portal form refused: CSRF token missing or wrong")
            return self.render("form_expired.html", status_code=403, visit=visit)
        return None

    async def _visit(self, request: Request) -> Visit | None:
        """The signed-in person behind this request, or None (no session, idle, revoked, deactivated)."""
        cookie = request.cookies.get(COOKIE, "")
        if not cookie:
            return None
        async with self.session_factory() as db, db.begin():
            session = await self.sessions.find(db=db, cookie=cookie)
        if session is None or not session.signed_in:
            return None
        tokens = session.contents.get("tokens") or {}
        if _near_end(tokens):
            refreshed = await self._refresh(request, session)
            if refreshed is None:
                return None
            tokens = refreshed
        async with self.session_factory() as db, db.begin():
            session.row = await db.merge(session.row)
            try:
                claims = await self.verifier.verify(str(tokens.get("access_token", "")))
            except InvalidToken:
                await self.sessions.end(db=db, session=session)
                return None
            state = await auth_service.token_state(db=db, jti=str(claims["jti"]))
            if (
                state is None
                or state.revoked
                or not state.client_active
                or not state.organisation_active
                or state.user_active is not True
            ):
                await self.sessions.end(db=db, session=session)
                return None
            principal = auth_service.principal_from(claims=claims, state=state)
            user = await db.get(User, session.row.user_id)
            flash = session.contents.pop("flash", None) if request.method == "GET" else None
            await self.sessions.save(db=db, session=session)
        return Visit(
            portal=self,
            request=request,
            principal=principal,
            session=session,
            email=user.email if user else "",
            flash_message=str(flash) if flash else None,
        )

    async def _refresh(self, request: Request, session: OpenSession) -> dict[str, Any] | None:
        """New tokens for a session whose access token is near its end, or None when the session is over.

        A refresh token works once: a second use is taken as theft and revokes the whole family, signing the
        person out. So two requests of one session never refresh at once: a lock in this process and the row's
        lock in the database (PostgreSQL) serialise them, and the second finds the tokens the first obtained.
        """
        lock = self._refresh_locks[(session.row.id or 0) % len(self._refresh_locks)]
        async with lock, self.session_factory() as db, db.begin():
            row = (
                await db.exec(
                    select(PortalSession)
                    .where(col(PortalSession.id) == session.row.id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
            ).first()
            if row is None:
                return None
            session.row, session.contents = row, self.sessions.box.open(row.sealed)
            tokens: dict[str, Any] = session.contents.get("tokens") or {}
            if not _near_end(tokens):
                return tokens  # another request of this session has just refreshed them
            answer = await self._token_request(
                request, {"grant_type": "refresh_token", "refresh_token": str(tokens.get("refresh_token", ""))}
            )
            if answer is None:
                await self.sessions.end(db=db, session=session)
                return None
            tokens = session.contents["tokens"] = _tokens(answer)
            await self.sessions.save(db=db, session=session)
            return tokens

    def navigation(self, visit: Visit) -> list[NavigationItem]:
        """The service navigation: the sections this person's roles open, in a fixed order."""
        return [item for item in self.sections if not item.scopes or any(visit.has(s) for s in item.scopes)]

    async def save_session(self, session: OpenSession) -> None:
        async with self.session_factory() as db, db.begin():
            row = await db.merge(session.row)
            await self.sessions.save(db=db, session=OpenSession(row=row, contents=session.contents))

    # -- the token endpoint, in-process ---------------------------------------------------------------------

    async def _token_request(self, origin: Request, form: dict[str, str]) -> dict[str, Any] | None:
        response = await self.oauth.token(self._internal_request(origin, "/oauth/token", form))
        if response.status_code != 200:
            log.info("portal token request refused", extra={"status": response.status_code})
            return None
        answer = orjson.loads(bytes(response.body))
        return answer if isinstance(answer, dict) and "access_token" in answer else None

    async def _revoke(self, origin: Request, session: OpenSession) -> None:
        tokens = session.contents.get("tokens") or {}
        for hint in ("refresh_token", "access_token"):
            if tokens.get(hint):
                await self.oauth.revoke(
                    self._internal_request(
                        origin, "/oauth/revoke", {"token": str(tokens[hint]), "token_type_hint": hint}
                    )
                )

    def _internal_request(self, origin: Request, path: str, form: dict[str, str]) -> Request:
        body = urlencode(form).encode()
        credentials = f"{PORTAL_CLIENT_ID}:{portal_client_secret(self.settings.session_secret)}"
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "https" if self.settings.issuer_url.startswith("https://") else origin.url.scheme,
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", origin.headers.get("host", "localhost").encode()),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
                (b"authorization", b"Basic " + base64.b64encode(credentials.encode())),
            ],
            "client": origin.scope.get("client"),
            "server": origin.scope.get("server"),
            "app": origin.scope.get("app"),
        }
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return Request(scope, receive)

    # -- the cookie ------------------------------------------------------------------------------------------

    def _set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(COOKIE, value, httponly=True, samesite="lax", secure=self.secure_cookie, path=PREFIX)

    def _forget(self, response: Response) -> Response:
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="lax", secure=self.secure_cookie)
        return response


def _near_end(tokens: dict[str, Any]) -> bool:
    return float(tokens.get("expires_at", 0)) - utc_now().timestamp() < REFRESH_MARGIN_SECONDS


def _tokens(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        "access_token": str(answer["access_token"]),
        "refresh_token": str(answer.get("refresh_token", "")),
        "expires_at": utc_now().timestamp() + float(answer.get("expires_in", 0)),
    }
