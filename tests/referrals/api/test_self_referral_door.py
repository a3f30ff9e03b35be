"""The self-referral door: no third party can shut it on a victim.

Limits count per network (an IPv4 address, an IPv6 /64), forwarding headers are believed only from configured
proxies, the overall limit asks for a small proof of work instead of refusing, the counters live in the database so
every worker and process shares them, and bodies with control characters are refused with nothing written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.audit.models import AuditEntry
from gateway.clock import utc_now
from gateway.idempotency.models import IdempotencyRecord
from gateway.referrals.models import SelfReferral
from gateway.settings import Settings
from gateway.throttles.models import ThrottleCounter
from gateway.throttles.service import claim_slot, derive_key, issue_challenge
from tests.support.api import ISSUER, Gateway, key

REPOSITORY = Path(__file__).resolve().parents[3]
# Small enough that the tests solve a challenge in a few hundred hashes; the rule is the same at any difficulty.
TEST_BITS = 8
NETWORK_LIMIT = 5  # the published default, so the tests read the same before and after the fix
OVERALL_LIMIT = 12

VICTIM: dict[str, Any] = {
    "given_name": "Jo",
    "family_name": "Bloggs",
    "consent_to_contact": True,
    "phone": "07700900999",
    "safe_contact": {"safe_phone": "07700900998", "safe_times": "Evenings"},
    "crime_category": "burglary",
    "needs": ["emotional"],
    "what_happened": "Someone broke in.",
}


def door_settings(database_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "self_referral_network_limit": NETWORK_LIMIT,
        "self_referral_overall_limit": OVERALL_LIMIT,
        "self_referral_challenge_bits": TEST_BITS,
    }
    return Settings(database_url=database_url, issuer_url=ISSUER, **(values | changes))


@pytest.fixture
def settings(database_url: str) -> Settings:
    """One executor: the door is plain HTTP and never reaches GraphQL execution."""
    return door_settings(database_url)


@contextlib.asynccontextmanager
async def another_app(settings: Settings) -> AsyncIterator[Starlette]:
    app = create_app(settings)
    try:
        yield app
    finally:
        await app.state.engine.dispose()


async def submit(
    app: Starlette, peer: str, *, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A self-referral from `peer`, as the app's server would see that connection."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        return await http.post(
            "/self-referral",
            json=VICTIM if body is None else body,
            headers={"idempotency-key": key(), **(headers or {})},
        )


def solve(challenge: dict[str, Any]) -> str:
    """What the README tells a client to do: count up until sha256("<token>:<n>") starts with `bits` zero bits."""
    for n in itertools.count():
        digest = hashlib.sha256(f"{challenge['token']}:{n}".encode()).digest()
        if 256 - int.from_bytes(digest, "big").bit_length() >= challenge["bits"]:
            return str(n)
    raise AssertionError("unreachable")


def proof_headers(challenge: dict[str, Any], solution: str | None = None) -> dict[str, str]:
    return {"self-referral-challenge": challenge["token"], "self-referral-solution": solution or solve(challenge)}


async def written(app: Starlette) -> dict[str, Any]:
    """Everything a self-referral writes: the intake row, its audit row, its idempotency key, the door's counters."""
    async with app.state.session_factory() as db:
        counts: dict[str, Any] = {}
        for model in (SelfReferral, AuditEntry, IdempotencyRecord):
            counts[model.__tablename__] = (await db.exec(select(func.count()).select_from(model))).one()
        counters = await db.exec(select(ThrottleCounter.key, ThrottleCounter.hits).order_by(ThrottleCounter.key))
        counts["throttle_counters"] = [tuple(row) for row in counters.all()]
    return counts


async def fill_the_overall_limit(
    app: Starlette, settings: Settings, *, already: int = 0, first_octet: int = 10
) -> None:
    """Other people, each within their own network's limit, use up what is left of the overall allowance."""
    addresses = (f"{first_octet}.0.{n // 250}.{n % 250 + 1}" for n in itertools.count())
    answers: list[int] = []
    for address in addresses:
        for _ in range(settings.self_referral_network_limit):
            if len(answers) == settings.self_referral_overall_limit - already:
                assert set(answers) <= {202}
                return
            answers.append((await submit(app, address)).status_code)


async def queued_references(gateway: Gateway) -> list[str]:
    queue = await gateway.gql("hub", "{ intakeQueue(first: 100) { items { confirmationReference } } }")
    return [item["confirmationReference"] for item in queue["data"]["intakeQueue"]["items"]]


# -- many addresses --------------------------------------------------------------------------------------------


async def test_a_few_dozen_addresses_cannot_shut_the_door_on_a_new_one(database_url: str) -> None:
    # Given every published default (5 per network per 10 minutes, 300 an hour overall, an 18-bit challenge) and
    # 60 addresses that each send their five: the finding's attack, which left every later victim 429 for an hour
    async with another_app(Settings(database_url=database_url, issuer_url=ISSUER)) as app:
        settings: Settings = app.state.settings
        await fill_the_overall_limit(app, settings)

        # When a victim on a new address writes
        form = {"idempotency-key": "victim-form-1"}
        first = await submit(app, "192.0.2.77", headers=form)

        # Then they are asked for a proof of work, not refused
        assert (first.status_code, first.json()["error"]) == (428, "challenge-required")
        assert first.json()["challenge"]["bits"] == 18
        # And once they have solved it, the same request sent again is taken
        solved = await submit(app, "192.0.2.77", headers=form | proof_headers(first.json()["challenge"]))
        assert solved.status_code == 202
        assert list(solved.json()) == ["reference"]
        assert (await written(app))["self_referrals"] == 301


async def test_addresses_over_the_overall_rate_are_asked_for_work_not_refused(
    app: Starlette, settings: Settings, gateway: Gateway
) -> None:
    await fill_the_overall_limit(app, settings)

    answers = [await submit(app, f"198.51.100.{n}") for n in range(1, 6)]
    solved = [
        await submit(app, f"198.51.100.{n}", headers=proof_headers(a.json()["challenge"]))
        for n, a in enumerate(answers, 1)
    ]

    assert {a.status_code for a in answers} == {428}
    assert "Retry-After" not in answers[0].headers
    assert [s.status_code for s in solved] == [202] * 5
    assert set(await queued_references(gateway)) >= {s.json()["reference"] for s in solved}


async def test_a_challenge_is_single_use_unforgeable_and_expires(app: Starlette, settings: Settings) -> None:
    await fill_the_overall_limit(app, settings)
    challenge = (await submit(app, "192.0.2.10")).json()["challenge"]
    honest_key = derive_key(settings.session_secret, "self-referral:challenges")
    expired = issue_challenge(
        key=honest_key,
        audience="self-referral:challenge",
        bits=TEST_BITS,
        ttl_seconds=600,
        now=utc_now() - timedelta(hours=1),
    )
    forged = issue_challenge(
        key=derive_key("another gateway's secret, not this one", "self-referral:challenges"),
        audience="self-referral:challenge",
        bits=TEST_BITS,
        ttl_seconds=600,
    )
    before = await written(app)

    wrong = await submit(app, "192.0.2.10", headers=proof_headers(challenge, short_of(challenge)))
    stale = await submit(app, "192.0.2.11", headers=proof_headers({"token": expired.token, "bits": TEST_BITS}))
    fake = await submit(app, "192.0.2.12", headers=proof_headers({"token": forged.token, "bits": TEST_BITS}))
    refused_writes = await written(app)
    right = await submit(app, "192.0.2.10", headers=proof_headers(challenge))
    again = await submit(app, "192.0.2.14", headers=proof_headers(challenge))
    # Marking a challenge used clears only ended windows: the first filler's network is still at its limit
    filler_again = await submit(app, "10.0.0.1")

    for refused in (wrong, stale, fake, again):
        assert refused.status_code == 428, refused.text
        assert refused.json()["error"] == "challenge-required"
        assert refused.json()["message"].startswith("That solution was not accepted.")
        assert refused.json()["challenge"]["token"] != challenge["token"]
    assert refused_writes == before
    assert right.status_code == 202
    assert filler_again.status_code == 429


def short_of(challenge: dict[str, Any]) -> str:
    """A solution with fewer zero bits than the challenge asks for."""
    for n in itertools.count():
        digest = hashlib.sha256(f"{challenge['token']}:{n}".encode()).digest()
        if 256 - int.from_bytes(digest, "big").bit_length() < challenge["bits"]:
            return str(n)
    raise AssertionError("unreachable")


# -- networks ----------------------------------------------------------------------------------------------------


async def test_ipv6_addresses_in_one_64_share_a_limit_and_other_64s_do_not(app: Starlette) -> None:
    same_network = [f"2001:db8:1:2::{n:x}" for n in range(1, NETWORK_LIMIT + 2)] + ["2001:db8:1:2:ffff:ffff:ffff:ffff"]
    answers = [(await submit(app, address)).status_code for address in same_network]
    limited = await submit(app, "2001:db8:1:2:abcd::1")
    neighbours = [(await submit(app, f"2001:db8:1:{n:x}::1")).status_code for n in range(3, 3 + NETWORK_LIMIT + 2)]

    assert answers == [202] * NETWORK_LIMIT + [429, 429]
    assert limited.status_code == 429
    assert limited.json() == {"error": "rate-limited", "message": "Too many requests. Please try again later."}
    assert 0 < int(limited.headers["retry-after"]) <= 600
    assert neighbours == [202] * (NETWORK_LIMIT + 2)


async def test_ipv4_addresses_each_have_their_own_limit(app: Starlette) -> None:
    one = [(await submit(app, "203.0.113.1")).status_code for _ in range(NETWORK_LIMIT + 1)]
    next_door = (await submit(app, "203.0.113.2")).status_code
    mapped = (await submit(app, "::ffff:203.0.113.1")).status_code

    assert one == [202] * NETWORK_LIMIT + [429]
    assert next_door == 202
    assert mapped == 429  # the same IPv4 caller over a dual-stack socket


async def test_a_refusal_at_the_door_writes_nothing(app: Starlette, settings: Settings) -> None:
    for _ in range(NETWORK_LIMIT):
        assert (await submit(app, "203.0.113.9")).status_code == 202
    before = await written(app)

    refused = [await submit(app, "203.0.113.9") for _ in range(3)]

    assert {r.status_code for r in refused} == {429}
    assert await written(app) == before


# -- forwarding headers ----------------------------------------------------------------------------------------


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(app: Starlette) -> None:
    answers = [
        (await submit(app, "127.0.0.1", headers={"x-forwarded-for": f"198.51.100.{n}"})).status_code
        for n in range(1, NETWORK_LIMIT + 3)
    ]

    assert answers == [202] * NETWORK_LIMIT + [429, 429]


async def test_forwarded_for_from_a_trusted_proxy_is_honoured_right_to_left(database_url: str) -> None:
    settings = door_settings(
        database_url,
        trusted_proxies=(ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8")),
        self_referral_overall_limit=100,
    )
    async with another_app(settings) as app:
        # Each caller the proxy names is counted on its own
        distinct = [
            (await submit(app, "127.0.0.1", headers={"x-forwarded-for": f"198.51.100.{n}"})).status_code
            for n in range(1, NETWORK_LIMIT + 3)
        ]
        # What the caller wrote to the left of the hop the proxy added is never believed
        forged = [
            (await submit(app, "127.0.0.1", headers={"x-forwarded-for": f"192.0.2.{n}, 203.0.113.50"})).status_code
            for n in range(1, NETWORK_LIMIT + 2)
        ]
        # Through two trusted proxies, the right-most hop neither of them is
        chained = [
            (
                await submit(app, "127.0.0.1", headers={"x-forwarded-for": f"192.0.2.{n}, 203.0.113.60, 10.1.2.3"})
            ).status_code
            for n in range(1, NETWORK_LIMIT + 2)
        ]
        # And a peer that is not a proxy still counts as itself
        direct = [
            (await submit(app, "198.51.100.200", headers={"x-forwarded-for": f"192.0.2.{n}"})).status_code
            for n in range(1, NETWORK_LIMIT + 2)
        ]

    assert distinct == [202] * (NETWORK_LIMIT + 2)
    assert forged == [202] * NETWORK_LIMIT + [429]
    assert chained == [202] * NETWORK_LIMIT + [429]
    assert direct == [202] * NETWORK_LIMIT + [429]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def served(database_url: str, **environment: str) -> Iterator[str]:
    """`gateway serve` as a real process on loopback; its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "GATEWAY_ENV": "development",
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_ISSUER_URL": ISSUER,
        "GATEWAY_SELF_REFERRAL_NETWORK_LIMIT": str(NETWORK_LIMIT),
        **environment,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        env=env,
        cwd=REPOSITORY,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _wait_until_up(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not start")


async def _post_forwarded(base_url: str, forwarded_for: str) -> int:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(
            "/self-referral", json=VICTIM, headers={"idempotency-key": key(), "x-forwarded-for": forwarded_for}
        )
    return response.status_code


async def test_the_served_gateway_believes_no_forwarding_header_from_loopback_unless_configured(
    app: Starlette, database_url: str
) -> None:
    # Given the gateway served as `gateway serve` runs it, with no trusted proxies
    with served(database_url) as base_url:
        await _wait_until_up(base_url)
        # When one loopback caller claims to be a different address each time
        untrusted = [await _post_forwarded(base_url, f"198.51.100.{n}") for n in range(1, NETWORK_LIMIT + 3)]
    # Then it counts as itself, and another process on the same database sees the same count
    from_this_process = (await submit(app, "127.0.0.1")).status_code

    # Given loopback configured as a trusted proxy, the forwarded caller is counted instead
    with served(database_url, GATEWAY_TRUSTED_PROXIES="127.0.0.1") as base_url:
        await _wait_until_up(base_url)
        trusted = [await _post_forwarded(base_url, f"203.0.113.{n}") for n in range(1, NETWORK_LIMIT + 3)]

    assert untrusted == [202] * NETWORK_LIMIT + [429, 429]
    assert from_this_process == 429
    assert trusted == [202] * (NETWORK_LIMIT + 2)


# -- several workers ---------------------------------------------------------------------------------------------


async def test_two_app_instances_on_one_database_share_the_limits(app: Starlette, settings: Settings) -> None:
    async with another_app(settings) as second:
        alternating = itertools.islice(itertools.cycle((app, second)), NETWORK_LIMIT + 1)
        by_network = [(await submit(instance, "203.0.113.7")).status_code for instance in alternating]
        await fill_the_overall_limit(second, settings, already=NETWORK_LIMIT, first_octet=11)
        challenge = (await submit(app, "192.0.2.1")).json()["challenge"]
        solved_elsewhere = await submit(second, "192.0.2.1", headers=proof_headers(challenge))
        reused_here = await submit(app, "192.0.2.2", headers=proof_headers(challenge))

    assert by_network == [202] * NETWORK_LIMIT + [429]
    assert solved_elsewhere.status_code == 202
    assert reused_here.status_code == 428


async def test_parallel_submissions_from_one_network_take_exactly_its_allowance(app: Starlette) -> None:
    answers = await asyncio.gather(*(submit(app, "203.0.113.80") for _ in range(NETWORK_LIMIT * 3)))

    assert sorted(a.status_code for a in answers) == [202] * NETWORK_LIMIT + [429] * (NETWORK_LIMIT * 2)
    assert (await written(app))["self_referrals"] == NETWORK_LIMIT


async def test_parallel_submissions_from_many_networks_take_exactly_the_overall_allowance(app: Starlette) -> None:
    answers = await asyncio.gather(*(submit(app, f"198.18.0.{n}") for n in range(1, OVERALL_LIMIT * 2 + 1)))

    assert sorted(a.status_code for a in answers) == [202] * OVERALL_LIMIT + [428] * OVERALL_LIMIT
    assert (await written(app))["self_referrals"] == OVERALL_LIMIT


async def test_a_window_ends_and_its_counter_is_cleared(app: Starlette) -> None:
    two_hours_ago = utc_now() - timedelta(hours=2)
    async with app.state.session_factory() as db, db.begin():
        for _ in range(2):
            await claim_slot(db=db, key="test:old", limit=2, window_seconds=600, now=two_hours_ago)
        full_then = await claim_slot(db=db, key="test:old", limit=2, window_seconds=600, now=two_hours_ago)
    async with app.state.session_factory() as db, db.begin():
        open_now = await claim_slot(db=db, key="test:old", limit=2, window_seconds=600)

    assert not full_then.granted and 0 < full_then.retry_after_seconds <= 600
    assert open_now.granted
    assert (await written(app))["throttle_counters"] == [("test:old", 1)]  # the ended window's row is gone


# -- bodies ------------------------------------------------------------------------------------------------------

CONTROL_CHARACTER_CASES: list[tuple[str, dict[str, Any]]] = [
    ("given_name", {"given_name": "Jo\x00"}),
    ("family_name", {"family_name": "Blo\x07ggs"}),
    ("address", {"address": "1 Lane\x00"}),
    ("postcode", {"postcode": "CB1\x1b1AA"}),
    ("phone", {"phone": "07700\x00900999"}),
    ("email", {"email": "jo@example.org\nBcc: x@example.org"}),
    ("language", {"language": "Welsh\x85"}),
    ("crime_category", {"crime_category": "burglary\x00"}),
    ("needs.0", {"needs": ["emotional\x00"]}),
    ("what_happened", {"what_happened": "He said \x00 nothing"}),
    ("what_happened", {"what_happened": "bell\x07"}),
    ("safe_contact.safe_phone", {"safe_contact": {"safe_phone": "\x0007700900998"}}),
    ("safe_contact.safe_times", {"safe_contact": {"safe_times": "Evenings\x7f"}}),
]


async def test_nul_bytes_and_control_characters_are_refused_naming_the_field(app: Starlette) -> None:
    before = await written(app)
    answers = []
    for field, change in CONTROL_CHARACTER_CASES:
        response = await submit(app, "203.0.113.30", body=VICTIM | change)
        answers.append((field, response.status_code, response.json()))

    for field, status, body in answers:
        assert (status, body["error"]) == (400, "validation"), field
        assert body["message"] == f"Check these fields: {field}.", field
    assert await written(app) == before


async def test_free_text_keeps_its_line_breaks_and_tabs(app: Starlette) -> None:
    text = "First line\r\nsecond line\n\tindented"
    response = await submit(app, "203.0.113.31", body=VICTIM | {"what_happened": text, "address": "1 Lane\nTown"})

    assert response.status_code == 202
    async with app.state.session_factory() as db:
        row = (await db.exec(select(SelfReferral))).one()
    assert (row.what_happened, row.address) == (text, "1 Lane\nTown")


async def test_html_is_stored_as_given_and_read_back_as_json_data(app: Starlette, gateway: Gateway) -> None:
    html = {
        "given_name": "<b>Jo</b>",
        "family_name": "O'Brien & <i>Sons</i>",
        "safe_contact": {"safe_times": "<script>alert(1)</script> evenings"},
        "what_happened": '<img src=x onerror="alert(1)">',
    }
    response = await submit(app, "203.0.113.32", body=VICTIM | html)

    queue = await gateway.raw("hub", "{ intakeQueue { items { givenName familyName safeContact { safeTimes } } } }")
    async with app.state.session_factory() as db:
        row = (await db.exec(select(SelfReferral))).one()

    assert response.status_code == 202
    assert queue.headers["content-type"].startswith("application/json")
    assert queue.json()["data"]["intakeQueue"]["items"] == [
        {
            "givenName": "<b>Jo</b>",
            "familyName": "O'Brien & <i>Sons</i>",
            "safeContact": {"safeTimes": "<script>alert(1)</script> evenings"},
        }
    ]
    assert row.what_happened == '<img src=x onerror="alert(1)">'


async def test_a_body_that_is_not_a_json_object_is_refused_naming_the_body(app: Starlette) -> None:
    before = await written(app)
    answers = []
    for raw in (b"[]", b"true", b"null", b"123", b'"x"', b"{", b'{"given_name": "\\ud800"}'):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.40", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            response = await http.post("/self-referral", content=raw, headers={"content-type": "application/json"})
        answers.append((response.status_code, response.json()))
    unknown = await submit(app, "203.0.113.40", body=VICTIM | {"<Jo Bloggs>": 1, "shoe_size": 9})

    assert answers == [(400, {"error": "validation", "message": "Check these fields: body."})] * 7
    assert unknown.json()["message"] == "Check these fields: an unknown field, shoe_size."
    assert await written(app) == before
