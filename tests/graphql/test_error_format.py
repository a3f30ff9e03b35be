"""One error format: every GraphQL error carries `extensions.code`, every JSON refusal is {"error", "message"}, and
the codes are one kebab-case vocabulary on /graphql, /self-referral and plain HTTP alike.

Before, /graphql said `unsupported_media_type` and /self-referral `unsupported-media-type`, Starlette's own 404 and
405 and the server's 500 were plain text, and graphql-core's errors (and masked ones) carried no code at all.
OAuth endpoints keep RFC 6749's codes (`invalid_grant`, ...), which integrators' libraries expect.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from gateway.referrals import service as referral_service
from tests.support.api import Gateway, api_templates, client, database_url, gateway, settings, world

__all__ = ["api_templates", "client", "database_url", "gateway", "settings", "world"]

KEBAB = re.compile(r"[a-z]+(-[a-z]+)*")


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(error.get("extensions") or {}).get("code") for error in body["errors"]]


async def test_every_graphql_error_carries_a_code(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = {
        "syntax": ("cpn", "{ inbox { ", None, "validation"),
        "unknown field": ("cpn", "{ inbox { items { nope } } }", None, "validation"),
        "wrong literal type": ("cpn", '{ inbox(first: "x") { nextCursor } }', None, "validation"),
        "missing variable": ("cpn", "query($f: Int!) { inbox(first: $f) { nextCursor } }", None, "validation"),
        "wrong variable type": ("cpn", "query($f: Int!) { inbox(first: $f) { nextCursor } }", {"f": "x"}, "validation"),
        "bad page size": ("cpn", "{ inbox(first: -1) { nextCursor } }", None, "validation"),
        "bad cursor": ("cpn", '{ inbox(after: "nope") { nextCursor } }', None, "validation"),
        "forbidden": ("cpn", "{ referrals { nextCursor } }", None, "forbidden"),
        "anonymous": (None, "{ viewer { organisation } }", None, "unauthenticated"),
        "too deep": (
            "cpn",
            "{ inbox { items { victim { safeContact { a { b { c { d } } } } } } } }",
            None,
            "query-too-deep",
        ),
        "too expensive": (
            "hub",
            "{ referrals(first: 100) { items { tasks { contactAttempts { id method result attemptedAt } } } } }",
            None,
            "query-too-expensive",
        ),
        "too many aliases": (
            "cpn",
            "{ " + " ".join(f"a{i}: inbox {{ nextCursor }}" for i in range(16)) + " }",
            None,
            "too-many-aliases",
        ),
        "too many tokens": ("cpn", "{ inbox { items { id" + " id" * 1000 + " } } }", None, "too-many-tokens"),
    }
    found = {}
    for name, (role, query, variables, _) in cases.items():
        found[name] = codes(await gateway.gql(role, query, variables))

    # An unexpected failure is masked, and still coded
    async def broken(**_: object) -> None:
        raise ValueError("boom")

    # Through the resolvers on both databases: on PostgreSQL plain `referrals` documents are compiled into one
    # statement and never call the service function; an inline fragment is left to the resolvers.
    monkeypatch.setattr(referral_service, "list_referrals", broken)
    found["unexpected"] = codes(await gateway.gql("hub", "{ referrals { ... on ReferralPage { items { id } } } }"))

    expected = {name: [code] for name, (*_, code) in cases.items()}
    assert {name: codes_[:1] for name, codes_ in found.items()} == {**expected, "unexpected": ["internal"]}
    assert all(code is not None and KEBAB.fullmatch(code) for each in found.values() for code in each)


async def test_every_json_refusal_has_one_shape_and_a_kebab_case_code(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    json_type = {"content-type": "application/json"}
    answers = {
        "graphql: a form": await client.post("/graphql", content=b"query=x", headers={"content-type": "text/plain"}),
        "self-referral: a form": await client.post(
            "/self-referral", content=b"given_name=x", headers={"content-type": "text/plain"}
        ),
        "graphql: malformed JSON": await client.post("/graphql", content=b'{"query": ', headers=json_type),
        "self-referral: malformed JSON": await client.post("/self-referral", content=b'{"given', headers=json_type),
        "graphql: not UTF-8": await client.post("/graphql", content=b'{"query": "\xff"}', headers=json_type),
        "graphql: an empty body": await client.post("/graphql", content=b"", headers=json_type),
        "graphql: no query": await client.post("/graphql", content=b'{"variables": {}}', headers=json_type),
        "graphql: a batch": await client.post("/graphql", content=b"[]", headers=json_type),
        "graphql: GET": await client.get("/graphql"),
        "graphql: a bad token": await client.post(
            "/graphql", json={"query": "{ providers { slug } }"}, headers={"authorization": "Bearer nope"}
        ),
        "an unknown path": await client.get("/nowhere"),
        "a method a route lacks": await client.post("/healthz"),
        "self-referral: GET": await client.get("/self-referral"),
        "calendar: no feed": await client.get("/rj/calendar.ics", params={"token": "nope"}),
        "graphql: too large": await client.post(
            "/graphql", content=b'{"query": "' + b" " * 300_000 + b'"}', headers=json_type
        ),
    }

    shapes = {
        name: (answer.status_code, answer.headers.get("content-type"), sorted(answer.json()))
        for name, answer in answers.items()
    }
    assert shapes == {
        name: (answer.status_code, "application/json", ["error", "message"]) for name, answer in answers.items()
    }
    found = {name: answer.json()["error"] for name, answer in answers.items()}
    assert found == {
        "graphql: a form": "unsupported-media-type",
        "self-referral: a form": "unsupported-media-type",
        "graphql: malformed JSON": "bad-request",
        "self-referral: malformed JSON": "validation",
        "graphql: not UTF-8": "bad-request",
        "graphql: an empty body": "bad-request",
        "graphql: no query": "bad-request",
        "graphql: a batch": "bad-request",
        "graphql: GET": "method-not-allowed",
        "graphql: a bad token": "invalid-token",
        "an unknown path": "not-found",
        "a method a route lacks": "method-not-allowed",
        "self-referral: GET": "method-not-allowed",
        "calendar: no feed": "not-found",
        "graphql: too large": "request-too-large",
    }
    # RFC 6750 names the bearer refusal in its header, for the clients' libraries
    assert answers["graphql: a bad token"].headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_oauth_endpoints_keep_the_codes_of_rfc_6749(gateway: Gateway, client: httpx.AsyncClient) -> None:
    client_id, secret = gateway.world.credentials["hub"]

    unsupported = await client.post("/oauth/token", data={"grant_type": "password"}, auth=(client_id, secret))
    unknown_client = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "y"))

    assert (unsupported.status_code, unsupported.json()["error"]) == (400, "unsupported_grant_type")
    assert (unknown_client.status_code, unknown_client.json()["error"]) == (401, "invalid_client")
