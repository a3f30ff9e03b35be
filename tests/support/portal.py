"""A portal world: the API world (organisations, machine clients) plus the portal's client and staff who sign in.

`portal` speaks to the portal as a browser without JavaScript would (httpx, cookies, forms with their CSRF token),
signing in through the gateway's own authorisation server. The real-browser tests build on the same world.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from gateway.auth import service as auth
from gateway.auth.portal_sessions import ensure_portal_client
from gateway.db import create_engine, create_session_factory
from gateway.settings import Settings
from tests.support.api import ISSUER, ApiWorld, Gateway, _build, make_settings
from tests.support.databases import world_database


@dataclass(frozen=True)
class StaffMember:
    organisation: str
    roles: tuple[str, ...]
    email: str
    password: str


def _staff(name: str, organisation: str, *roles: str) -> StaffMember:
    return StaffMember(organisation, roles, f"{name}@portal.test", f"password-of-{name}")


# Who signs in to the portal in tests: the Hub's co-ordinator and supervisor, and a caseworker at each provider.
STAFF: dict[str, StaffMember] = {
    "coordinator": _staff("coordinator", "hub", "hub-coordinator"),
    "supervisor": _staff("supervisor", "hub", "hub-supervisor"),
    "cpn": _staff("cpn-caseworker", "cpn", "provider-caseworker"),
    "family-action": _staff("family-action-caseworker", "family-action", "provider-caseworker"),
    "rape-crisis": _staff("rape-crisis-caseworker", "rape-crisis", "provider-caseworker"),
    "road-victims-trust": _staff("road-victims-trust-caseworker", "road-victims-trust", "provider-caseworker"),
    "commissioner": _staff("analyst", "opcc", "commissioner-analyst"),
    # The Commissioner's office's grant manager: the analyst reads, this role records and edits grants.
    "grants": _staff("grants", "opcc", "grant-manager"),
    "rj-coordinator": _staff("rj-coordinator", "rj-hub", "rj-coordinator"),
    # A second RJ co-ordinator: a sensitive case's assessment is approved by someone who did not record it.
    "rj-supervisor": _staff("rj-supervisor", "rj-hub", "rj-coordinator"),
    "facilitator": _staff("facilitator", "rj-hub", "rj-facilitator"),
    "officer": _staff("data-protection-officer", "hub", "data-protection-officer"),
}


async def _build_portal(settings: Settings) -> dict[str, tuple[str, str]]:
    credentials = await _build(settings)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            await ensure_portal_client(
                db=db, organisation_slug="hub", issuer_url=settings.issuer_url, session_secret=settings.session_secret
            )
            for member in STAFF.values():
                await auth.add_user(
                    db=db,
                    organisation_slug=member.organisation,
                    email=member.email,
                    roles=list(member.roles),
                    password=member.password,
                )
    finally:
        await engine.dispose()
    return credentials


def portal_settings(database_url: str, issuer: str = ISSUER) -> Settings:
    return make_settings(database_url).model_copy(update={"issuer_url": issuer})


@pytest.fixture(scope="session")
def portal_templates() -> dict[str, tuple[Path, str, dict[str, tuple[str, str]]]]:
    return {}


@pytest.fixture
def database_url(
    database_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    portal_templates: dict[str, tuple[Path, str, dict[str, tuple[str, str]]]],
) -> Iterator[str]:
    build = lambda url: asyncio.run(_build_portal(make_settings(url)))  # noqa: E731
    with world_database(database_kind, request, tmp_path, portal_templates, "portal_world", build) as (url, _):
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def world(settings: Settings, database_kind: str, portal_templates: dict[str, Any]) -> ApiWorld:
    return ApiWorld(settings=settings, credentials=portal_templates[database_kind][2])


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
        yield http


@pytest.fixture
def gateway(client: httpx.AsyncClient, world: ApiWorld) -> Gateway:
    """The GraphQL API as the machine clients, for setting up casework the portal then shows."""
    return Gateway(client, world)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')


class PortalBrowser:
    """One person's browser without JavaScript: cookies kept, redirects followed by hand, forms posted with the
    CSRF token of the last page shown."""

    def __init__(self, app: Starlette, *, base_url: str = ISSUER) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        self.page: httpx.Response | None = None

    async def close(self) -> None:
        await self.http.aclose()

    async def _follow(self, response: httpx.Response) -> httpx.Response:
        for _ in range(10):
            if response.status_code not in (302, 303):
                break
            location = response.headers["location"]
            parts = urlsplit(location)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            response = await self.http.get(path)
        self.page = response
        return response

    async def get(self, path: str) -> httpx.Response:
        return await self._follow(await self.http.get(path))

    @property
    def csrf(self) -> str:
        assert self.page is not None
        match = _CSRF.search(self.page.text)
        assert match is not None, "the last page has no form"
        return unescape(match.group(1))

    async def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        return await self._follow(await self.http.post(path, data=form))

    async def sign_in(self, who: str | StaffMember) -> httpx.Response:
        """Through the authorisation server's sign-in page, as a person would."""
        member = STAFF[who] if isinstance(who, str) else who
        page = await self.get("/portal/sign-in")
        assert page.status_code == 200, page.text
        form = {unescape(k): unescape(v) for k, v in _HIDDEN.findall(page.text)}
        form |= {"email": member.email, "password": member.password}
        answer = await self.post("/oauth/authorize", form, csrf=False)
        assert answer.status_code == 200, answer.text
        return answer


@pytest.fixture
async def browsers(app: Starlette) -> AsyncIterator[Any]:
    """Open as many browsers as a test needs: `await browsers("coordinator")` is one signed in."""
    opened: list[PortalBrowser] = []

    async def open_browser(who: str | None = None) -> PortalBrowser:
        browser = PortalBrowser(app)
        opened.append(browser)
        if who is not None:
            await browser.sign_in(who)
        return browser

    yield open_browser
    for browser in opened:
        await browser.close()
