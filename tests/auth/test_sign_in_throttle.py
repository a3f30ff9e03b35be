"""The sign-in throttle: guesses are counted before any password is checked, per address, per account from an
address and per account, so parallel guesses cannot outrun it and one address cannot lock a colleague out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth import service
from gateway.auth.models import LoginThrottle, User
from gateway.db import create_engine, create_session_factory
from gateway.settings import Settings
from tests.support.auth import ISSUER, PASSWORD, LiveGateway, World, authorize_params, pkce_pair, sign_in

CHECKED = "do not match an active account"  # the password was checked, and was wrong
REFUSED = "Too many failed attempts"  # the throttle answered; no password was checked
ATTACKER, OTHER_ATTACKER, OWNER = "198.51.100.7", "198.51.100.8", "203.0.113.9"


def throttle_settings(world: World, **limits: Any) -> Settings:
    """The auth world's settings (3 failures per account from one address) with the other limits given."""
    return world.settings.model_copy(
        update={"login_account_max_failures": 6, "login_address_max_failures": 20} | limits
    )


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Starlette]:
    app = create_app(settings)
    try:
        yield app
    finally:
        await app.state.engine.dispose()


@contextlib.asynccontextmanager
async def browser(app: Starlette, address: str, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser whose connection comes from `address`, as the ASGI server reports the TCP peer."""
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER, headers=headers) as http:
        yield http


async def attempt(app: Starlette, world: World, address: str, email: str, password: str, **headers: str) -> str:
    """One sign-in from an address: 'signed in', 'checked' (wrong password) or 'refused' (throttled)."""
    async with browser(app, address, **headers) as http:
        response = await sign_in(http, authorize_params(world.web_client_id, pkce_pair()[1]), email, password)
    if response.status_code == 302 and "code=" in response.headers["location"]:
        return "signed in"
    assert response.status_code == 401, response.text
    assert (CHECKED in response.text) != (REFUSED in response.text)
    return "checked" if CHECKED in response.text else "refused"


async def throttle_rows(settings: Settings) -> dict[str, int]:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            return {row.account_key: row.failures for row in (await db.exec(select(LoginThrottle))).all()}
    finally:
        await engine.dispose()


async def user_id(settings: Settings, email: str) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            return (await db.exec(select(User).where(User.email == email))).one().id or 0
    finally:
        await engine.dispose()


def lock_lines(stderr: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "sign-in locked"]


# -- parallel guesses --------------------------------------------------------------------------------------


async def test_parallel_guesses_check_no_more_passwords_than_the_limit(live_gateway: LiveGateway) -> None:
    """Given 24 browsers that have each opened the sign-in form, when they all post a wrong password at once over
    TCP, then exactly 3 passwords are checked and the right password afterwards does not sign in."""
    world, base = live_gateway.world, live_gateway.base_url
    params = authorize_params(world.web_client_id, pkce_pair()[1])
    browsers = [httpx.AsyncClient(base_url=base) for _ in range(24)]
    try:
        forms = []
        for http in browsers:
            page = await http.get("/oauth/authorize", params=params)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert page.status_code == 200 and csrf is not None
            forms.append({**params, "csrf_token": csrf.group(1), "email": world.coordinator_email})

        guesses = await asyncio.gather(
            *(
                http.post("/oauth/authorize", data={**form, "password": f"wrong guess {n}"})
                for n, (http, form) in enumerate(zip(browsers, forms, strict=True))
            )
        )
        right = await sign_in(browsers[0], params, world.coordinator_email, PASSWORD)
    finally:
        for http in browsers:
            await http.aclose()

    assert [g.status_code for g in guesses] == [401] * 24
    assert sum(CHECKED in g.text for g in guesses) == world.settings.login_max_failures == 3
    assert sum(REFUSED in g.text for g in guesses) == 21
    assert right.status_code == 401 and REFUSED in right.text
    assert "location" not in right.headers


# -- one address cannot lock the owner out ------------------------------------------------------------------


async def test_an_address_that_reaches_its_limit_does_not_lock_the_owner_out(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = throttle_settings(world)
    async with running(settings) as app:
        guesses = [await attempt(app, world, ATTACKER, world.coordinator_email, f"guess {n}") for n in range(5)]
        attacker_with_the_password = await attempt(app, world, ATTACKER, world.coordinator_email, PASSWORD)
        owner = await attempt(app, world, OWNER, world.coordinator_email, PASSWORD)

    assert guesses == ["checked"] * 3 + ["refused"] * 2
    assert attacker_with_the_password == "refused"
    assert owner == "signed in"
    stderr = capfd.readouterr().err
    assert [(line["throttle"], line["user_id"]) for line in lock_lines(stderr)] == [
        ("account_address", await user_id(settings, world.coordinator_email))
    ]


async def test_guesses_refused_for_one_address_do_not_count_against_the_account(world: World) -> None:
    """Given an account limit of 6: 10 guesses from one address (3 counted) and 2 from another leave the account
    at 5, so its owner still signs in."""
    settings = throttle_settings(world)
    async with running(settings) as app:
        first = [await attempt(app, world, ATTACKER, world.coordinator_email, f"guess {n}") for n in range(10)]
        second = [await attempt(app, world, OTHER_ATTACKER, world.coordinator_email, f"guess {n}") for n in range(2)]
        owner = await attempt(app, world, OWNER, world.coordinator_email, PASSWORD)

    assert first == ["checked"] * 3 + ["refused"] * 7
    assert second == ["checked"] * 2
    assert owner == "signed in"
    # A refused attempt is counted nowhere, not even against the address it came from.
    attacker = service.sign_in_keys(session_secret=settings.session_secret, email="", address_key=ATTACKER)
    assert (await throttle_rows(settings))[attacker.address] == 3


async def test_failures_from_several_addresses_lock_the_account_for_everyone(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = throttle_settings(world)
    async with running(settings) as app:
        for address in (ATTACKER, OTHER_ATTACKER):
            for n in range(3):
                assert await attempt(app, world, address, world.coordinator_email, f"guess {n}") == "checked"
        owner = await attempt(app, world, OWNER, world.coordinator_email, PASSWORD)
        colleague = await attempt(app, world, OWNER, world.caseworker_email, PASSWORD)

    assert owner == "refused"
    assert colleague == "signed in"
    stderr = capfd.readouterr().err
    locks = lock_lines(stderr)
    coordinator = await user_id(settings, world.coordinator_email)
    assert [(line["throttle"], line["user_id"], line["locked_seconds"]) for line in locks] == [
        ("account_address", coordinator, 300),
        ("account_address", coordinator, 300),
        ("account", coordinator, 300),
    ]
    keys = service.sign_in_keys(session_secret=settings.session_secret, email=world.coordinator_email, address_key="")
    assert locks[-1]["throttle_key"] == keys.account
    # The administrator's log line names the account by id and key, never by e-mail or network address.
    for line in locks:
        text = json.dumps(line)
        assert "coordinator" not in text and "hub.test" not in text
        assert ATTACKER not in text and OTHER_ATTACKER not in text and OWNER not in text


async def test_an_address_that_fails_on_many_accounts_is_refused_for_every_account(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    """Password spraying: 5 failures over 5 accounts lock the address; its next attempt, on a real account with the
    right password, is refused without touching that account's counters, and the owner elsewhere is unaffected."""
    settings = throttle_settings(world, login_address_max_failures=5)
    async with running(settings) as app:
        sprayed = [await attempt(app, world, ATTACKER, f"staff{n}@hub.test", "Winter2026!!") for n in range(5)]
        with_the_password = await attempt(app, world, ATTACKER, world.caseworker_email, PASSWORD)
        rows = await throttle_rows(settings)
        owner = await attempt(app, world, OWNER, world.caseworker_email, PASSWORD)

    assert sprayed == ["checked"] * 5
    assert with_the_password == "refused"
    assert owner == "signed in"
    caseworker = service.sign_in_keys(
        session_secret=settings.session_secret, email=world.caseworker_email, address_key=ATTACKER
    )
    assert rows[caseworker.address] == 5
    assert caseworker.account not in rows and caseworker.pair not in rows
    assert [(line["throttle"], line["user_id"]) for line in lock_lines(capfd.readouterr().err)] == [("address", None)]


async def test_an_ipv6_slash_64_counts_as_one_address(world: World) -> None:
    settings = throttle_settings(world)
    async with running(settings) as app:
        rotated = [
            await attempt(app, world, f"2001:db8:1:2::{n}", world.coordinator_email, f"guess {n}") for n in range(1, 5)
        ]
        same_network = await attempt(app, world, "2001:db8:1:2:ffff::9", world.coordinator_email, PASSWORD)
        other_network = await attempt(app, world, "2001:db8:1:3::1", world.coordinator_email, PASSWORD)

    assert rotated == ["checked"] * 3 + ["refused"]
    assert same_network == "refused"
    assert other_network == "signed in"


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(world: World) -> None:
    settings = throttle_settings(world, login_account_max_failures=20, trusted_proxies=(ip_network("10.0.0.0/8"),))
    email = world.coordinator_email
    async with running(settings) as app:
        # An untrusted peer forging a new address on every request is still one caller.
        forged = [
            await attempt(app, world, ATTACKER, email, f"guess {n}", **{"X-Forwarded-For": f"192.0.2.{n}"})
            for n in range(4)
        ]
        forged_right = await attempt(app, world, ATTACKER, email, PASSWORD, **{"X-Forwarded-For": "192.0.2.99"})
        # Behind the trusted proxy, the address it saw is the caller; what the caller prepended is not.
        behind_proxy = [
            await attempt(
                app, world, "10.0.0.2", email, f"guess {n}", **{"X-Forwarded-For": f"192.0.2.{n}, 198.51.100.20"}
            )
            for n in range(4)
        ]
        colleague_behind_proxy = await attempt(app, world, "10.0.0.2", email, PASSWORD, **{"X-Forwarded-For": OWNER})

    assert forged == ["checked"] * 3 + ["refused"]
    assert forged_right == "refused"
    assert behind_proxy == ["checked"] * 3 + ["refused"]
    assert colleague_behind_proxy == "signed in"


# -- what a right password does -----------------------------------------------------------------------------


async def test_signing_in_gives_the_office_address_its_attempts_back(world: World) -> None:
    """Given an address limit of 3, colleagues behind one office address sign in many times without locking it."""
    settings = throttle_settings(world, login_address_max_failures=3)
    async with running(settings) as app:
        results = [
            await attempt(app, world, OWNER, email, PASSWORD)
            for email in (world.coordinator_email, world.caseworker_email) * 3
        ]

    assert results == ["signed in"] * 6
    keys = service.sign_in_keys(session_secret=settings.session_secret, email="", address_key=OWNER)
    assert (await throttle_rows(settings)).get(keys.address, 0) == 0


async def test_a_right_password_clears_the_accounts_counters(world: World) -> None:
    settings = throttle_settings(world)
    email = world.coordinator_email
    async with running(settings) as app:
        results = []
        for _ in range(3):
            results += [await attempt(app, world, OWNER, email, f"typo {n}") for n in range(2)]
            results.append(await attempt(app, world, OWNER, email, PASSWORD))

    assert results == ["checked", "checked", "signed in"] * 3
    keys = service.sign_in_keys(session_secret=settings.session_secret, email=email, address_key=OWNER)
    rows = await throttle_rows(settings)
    assert keys.account not in rows and keys.pair not in rows
