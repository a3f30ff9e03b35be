"""An authorisation-server world: organisations, a signing key, clients of each kind, and staff."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from joserfc.jwk import ECKey, KeySet
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth import service
from gateway.auth.keys import ensure_signing_key
from gateway.auth.principal import Role
from gateway.db import create_engine, create_session_factory
from gateway.organisations.service import demo_organisations, ensure_organisation
from gateway.settings import Settings
from tests.support.databases import world_database

ISSUER = "https://gateway.test"
REDIRECT_URI = "https://app.example/callback"
PASSWORD = "correct horse battery staple"


@dataclass
class World:
    settings: Settings
    hub_client_id: str
    hub_client_secret: str
    cpn_client_id: str
    cpn_client_key: ECKey
    web_client_id: str
    web_client_secret: str
    other_web_client_id: str
    other_web_client_secret: str
    coordinator_email: str
    caseworker_email: str

    @property
    def token_url(self) -> str:
        return f"{self.settings.issuer_url}/oauth/token"


def make_settings(database_url: str, issuer: str = ISSUER) -> Settings:
    return Settings(database_url=database_url, issuer_url=issuer, login_max_failures=3)


async def build_world(settings: Settings) -> World:
    engine = create_engine(settings.database_url)
    cpn_key = ECKey.generate_key("P-256", parameters={"kid": "cpn-key-1", "alg": "ES256", "use": "sig"})
    # argon2 makes each secret and password cost real time: built once per database kind, then copied.
    try:
        async with create_session_factory(engine)() as db, db.begin():
            await ensure_signing_key(db=db)
            for spec in demo_organisations():
                await ensure_organisation(db=db, spec=spec)
            hub = await service.add_client(
                db=db, organisation_slug="hub", name="hub case system", scopes="referrals:read referrals:write"
            )
            cpn = await service.add_client(
                db=db,
                organisation_slug="cpn",
                name="cpn case system",
                scopes="tasks:read tasks:write",
                jwks=dict(KeySet([cpn_key]).as_dict(private=False)),
            )
            web = await service.add_client(
                db=db,
                organisation_slug="hub",
                name="web",
                scopes="referrals:read referrals:write tasks:read admin",
                redirect_uris=[REDIRECT_URI],
            )
            other_web = await service.add_client(
                db=db, organisation_slug="hub", name="other web", scopes="referrals:read", redirect_uris=[REDIRECT_URI]
            )
            await service.add_user(
                db=db,
                organisation_slug="hub",
                email="coordinator@hub.test",
                roles=[Role.HUB_COORDINATOR.value],
                password=PASSWORD,
            )
            await service.add_user(
                db=db,
                organisation_slug="cpn",
                email="caseworker@cpn.test",
                roles=[Role.PROVIDER_CASEWORKER.value],
                password=PASSWORD,
            )
    finally:
        await engine.dispose()
    assert hub.secret and web.secret and other_web.secret
    return World(
        settings=settings,
        hub_client_id=hub.client.client_id,
        hub_client_secret=hub.secret,
        cpn_client_id=cpn.client.client_id,
        cpn_client_key=cpn_key,
        web_client_id=web.client.client_id,
        web_client_secret=web.secret,
        other_web_client_id=other_web.client.client_id,
        other_web_client_secret=other_web.secret,
        coordinator_email="coordinator@hub.test",
        caseworker_email="caseworker@cpn.test",
    )


@pytest.fixture(scope="session")
def world_templates() -> dict[str, tuple[Path, str, World]]:
    return {}


@pytest.fixture
def database_url(
    database_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    world_templates: dict[str, tuple[Path, str, World]],
) -> Iterator[str]:
    """A private copy of a database holding the organisations, a signing key, the clients and the staff."""
    build = lambda url: asyncio.run(build_world(make_settings(url)))  # noqa: E731
    with world_database(database_kind, request, tmp_path, world_templates, "auth_world", build) as (url, _):
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def world(settings: Settings, database_kind: str, world_templates: dict[str, tuple[Path, str, World]]) -> World:
    return replace(world_templates[database_kind][2], settings=settings)


@pytest.fixture
async def client(app: Starlette, world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
        yield http


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveGateway:
    base_url: str
    world: World


@pytest.fixture
def live_gateway(database_url: str, world: World) -> Iterator[LiveGateway]:
    """The real gateway served by uvicorn on loopback, for standard OAuth clients to talk to over TCP."""
    template_world = world

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, issuer=base_url)
    world = replace(template_world, settings=settings)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield LiveGateway(base_url=base_url, world=world)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- helpers shared by the tests --------------------------------------------------------------------------


async def client_credentials(http: httpx.AsyncClient, client_id: str, secret: str, **form: str) -> httpx.Response:
    return await http.post("/oauth/token", data={"grant_type": "client_credentials", **form}, auth=(client_id, secret))


async def bearer_token(http: httpx.AsyncClient, world: World) -> str:
    response = await client_credentials(http, world.hub_client_id, world.hub_client_secret)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(client_id: str, challenge: str | None, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "referrals:read",
        "state": secrets.token_urlsafe(8),
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return params | overrides


async def sign_in(
    http: httpx.AsyncClient, params: dict[str, str], email: str, password: str = PASSWORD
) -> httpx.Response:
    """Open the sign-in page, then post the form with its CSRF token, as a browser would."""
    page = await http.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {**params, "csrf_token": csrf.group(1), "email": email, "password": password}
    return await http.post("/oauth/authorize", data=form)


async def authorization_code(http: httpx.AsyncClient, world: World, *, email: str | None = None) -> tuple[str, str]:
    """Sign in and return (code, verifier)."""
    verifier, challenge = pkce_pair()
    response = await sign_in(http, authorize_params(world.web_client_id, challenge), email or world.coordinator_email)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["code"][0], verifier


async def exchange_code(
    http: httpx.AsyncClient,
    world: World,
    code: str,
    verifier: str,
    *,
    client: tuple[str, str] | None = None,
    redirect_uri: str = REDIRECT_URI,
) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=client or (world.web_client_id, world.web_client_secret),
    )


def decode_unverified(token: str) -> tuple[dict[str, object], dict[str, object]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def b64url_json(value: Mapping[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
