"""Paging refuses what it cannot honour: a `first` outside 1 to 100 and an `after` the gateway did not give out are
validation errors on every paged field, and the largest page with every field a provider may read is accepted.

Before, `first: -1` quietly answered a page of one and a malformed `after` quietly started again from the start; and
`inbox(first: 100)` with the full selection cost more than the limit allowed.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from gateway.auth import service as auth
from gateway.db import create_engine, create_session_factory
from gateway.graphql.pagination import encode_cursor
from tests.graphql.test_costs import FULLEST_INBOX_PAGE
from tests.support.api import (
    ApiWorld,
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    sent_task,
    settings,
    world,
)

__all__ = ["api_templates", "client", "database_url", "gateway", "settings", "world"]

# Every paged field, with a caller allowed to read it.
PAGED = {"inbox": "cpn", "referrals": "hub", "overdueTasks": "hub", "intakeQueue": "hub", "rjCases": "rj-coordinator"}


@pytest.fixture
async def every_lister(client: httpx.AsyncClient, world: ApiWorld) -> Gateway:
    """The API world's callers and an RJ co-ordinator's case-management system, which lists RJ cases."""
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            created = await auth.add_client(
                db=db, organisation_slug="rj-hub", name="rj-coordinator", scopes="rj:manage"
            )
    finally:
        await engine.dispose()
    assert created.secret is not None
    credentials = {**world.credentials, "rj-coordinator": (created.client.client_id, created.secret)}
    return Gateway(client, ApiWorld(settings=world.settings, credentials=credentials))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


BAD_CURSORS = [
    "nope",
    "",
    "!!!",
    _b64("id:"),
    _b64("id:abc"),
    _b64("id:-1"),
    _b64("row:5"),
    _b64("id:" + "9" * 25),
    encode_cursor(5).rstrip("="),
    " " + encode_cursor(5),
    base64.b64encode("id:٣".encode()).decode(),
]


def _refusal(body: dict[str, Any]) -> tuple[Any, list[str | None], list[str]]:
    errors = body.get("errors") or []
    return body.get("data"), [(e.get("extensions") or {}).get("code") for e in errors], [e["message"] for e in errors]


async def test_a_page_size_outside_1_to_100_is_refused_on_every_paged_field(every_lister: Gateway) -> None:
    gateway = every_lister
    found: dict[tuple[str, int], Any] = {}
    expected: dict[tuple[str, int], Any] = {}
    for field, role in PAGED.items():
        for first in (-1, 0, 101, 2**31 - 1):
            query = "query($first: Int!) { FIELD(first: $first) { nextCursor } }".replace("FIELD", field)
            found[field, first] = _refusal(await gateway.gql(role, query, {"first": first}))
            expected[field, first] = (None, ["validation"], ["`first` must be between 1 and 100."])
        for first in (1, 100):
            body = await gateway.gql(role, f"{{ {field}(first: {first}) {{ nextCursor }} }}")
            found[field, first] = _refusal(body)
            expected[field, first] = ({field: {"nextCursor": None}}, [], [])

    assert found == expected


async def test_a_cursor_the_gateway_did_not_give_out_is_refused_on_every_paged_field(every_lister: Gateway) -> None:
    gateway = every_lister
    found, expected = {}, {}
    for field, role in PAGED.items():
        for cursor in BAD_CURSORS:
            query = "query($after: String) { FIELD(after: $after) { nextCursor } }".replace("FIELD", field)
            data, codes, messages = _refusal(await gateway.gql(role, query, {"after": cursor}))
            found[field, cursor] = (data, codes, [m.startswith("`after` is not a cursor") for m in messages])
            expected[field, cursor] = (None, ["validation"], [True])

    assert found == expected


async def test_a_cursor_given_out_continues_the_list(gateway: Gateway) -> None:
    for _ in range(3):
        await sent_task(gateway, "cpn")
    query = "query($after: String) { inbox(first: 2, after: $after) { items { id } nextCursor } }"

    first = (await gateway.gql("cpn", query, {"after": None}))["data"]["inbox"]
    second = (await gateway.gql("cpn", query, {"after": first["nextCursor"]}))["data"]["inbox"]

    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert not {item["id"] for item in first["items"]} & {item["id"] for item in second["items"]}


async def test_the_largest_page_with_the_full_selection_is_accepted(gateway: Gateway) -> None:
    await sent_task(gateway, "cpn")

    body = await gateway.gql("cpn", FULLEST_INBOX_PAGE.replace("inbox(first: 50)", "inbox(first: 100)"))

    assert "errors" not in body, body["errors"]
    assert len(body["data"]["inbox"]["items"]) == 1
