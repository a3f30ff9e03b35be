"""Administrators manage notification endpoints over GraphQL; every other caller is refused and changes nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlmodel import col, func, select

from gateway.auth import service as auth
from gateway.clock import utc_now
from gateway.db import create_engine, create_session_factory
from gateway.events.models import OutboxEvent
from gateway.notifications.models import NotificationDelivery, NotificationEndpoint
from tests.support.api import ApiWorld, Gateway, api_templates, client, database_url, settings, world

__all__ = ["api_templates", "client", "database_url", "settings", "world"]

HOOK = "http://127.0.0.1:9/hooks"
ENDPOINT_FIELDS = "id organisation kind url mailbox eventTypes active disabledReason previousSecretExpiresAt version"
SECRET_RESULT = (
    f"__typename ... on NotificationEndpointSecretPayload {{ secret endpoint {{ {ENDPOINT_FIELDS} }} }}"
    " ... on OperationError { code message }"
)
ENDPOINT_RESULT = (
    f"__typename ... on NotificationEndpointPayload {{ endpoint {{ {ENDPOINT_FIELDS} }} }}"
    " ... on OperationError { code message }"
)
REGISTER_WEBHOOK = f"""
mutation($input: RegisterWebhookEndpointInput!) {{ registerWebhookEndpoint(input: $input) {{ {SECRET_RESULT} }} }}"""
REGISTER_MAILBOX = f"""
mutation($input: RegisterMailboxInput!) {{ registerMailbox(input: $input) {{ {ENDPOINT_RESULT} }} }}"""
UPDATE_ENDPOINT = f"""
mutation($input: UpdateEndpointInput!) {{ updateEndpoint(input: $input) {{ {ENDPOINT_RESULT} }} }}"""
ROTATE_SECRET = f"""
mutation($input: RotateEndpointSecretInput!) {{ rotateEndpointSecret(input: $input) {{ {SECRET_RESULT} }} }}"""
REDELIVER = """
mutation($input: RedeliverNotificationInput!) { redeliverNotification(input: $input) { __typename
  ... on NotificationDeliveryPayload { delivery { id status attempts eventType deadAt } }
  ... on OperationError { code message } } }"""
ENDPOINTS = f"query($org: String!) {{ notificationEndpoints(organisation: $org) {{ {ENDPOINT_FIELDS} }} }}"
DELIVERIES = """
query($status: NotificationDeliveryStatus, $first: Int!, $after: String) {
  notificationDeliveries(status: $status, first: $first, after: $after) {
    items { id eventId eventType endpointId subjectKey status attempts lastStatusCode lastError deadAt }
    nextCursor
  }
}"""


@pytest.fixture
async def admin_world(world: ApiWorld) -> ApiWorld:
    """The API world plus a machine client holding the admin scope, in this test's own database."""
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            created = await auth.add_client(db=db, organisation_slug="hub", name="administration", scopes="admin")
    finally:
        await engine.dispose()
    assert created.secret is not None
    return replace(world, credentials={**world.credentials, "admin": (created.client.client_id, created.secret)})


@pytest.fixture
def api(client: Any, admin_world: ApiWorld) -> Gateway:
    return Gateway(client, admin_world)


async def _rows(url: str, model: type[Any]) -> int:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            return int((await db.exec(select(func.count()).select_from(model))).one())
    finally:
        await engine.dispose()


async def _register(api: Gateway, **overrides: Any) -> dict[str, Any]:
    variables = {"input": {"organisation": "cpn", "url": HOOK, "eventTypes": ["TASK_REQUESTED"], **overrides}}
    body = await api.gql("admin", REGISTER_WEBHOOK, variables)
    result: dict[str, Any] = body["data"]["registerWebhookEndpoint"]
    return result


async def test_an_administrator_registers_endpoints_and_lists_them_without_secrets(api: Gateway) -> None:
    # When an administrator registers a webhook and a team mailbox for CPN
    webhook = await _register(api, eventTypes=["TASK_REQUESTED", "CONSENT_WITHDRAWN"])
    mailbox = (
        await api.gql(
            "admin", REGISTER_MAILBOX, {"input": {"organisation": "cpn", "mailbox": "referrals@cpn.example.org"}}
        )
    )["data"]["registerMailbox"]

    # Then the webhook's secret comes back once, and the listing shows both without any secret
    assert webhook["__typename"] == "NotificationEndpointSecretPayload", webhook
    secret = webhook["secret"]
    assert secret.startswith("whsec_")
    assert webhook["endpoint"] | {"id": None} == {
        "id": None,
        "organisation": "cpn",
        "kind": "WEBHOOK",
        "url": HOOK,
        "mailbox": None,
        "eventTypes": ["TASK_REQUESTED", "CONSENT_WITHDRAWN"],
        "active": True,
        "disabledReason": None,
        "previousSecretExpiresAt": None,
        "version": 1,
    }
    assert mailbox["__typename"] == "NotificationEndpointPayload"
    assert (mailbox["endpoint"]["kind"], mailbox["endpoint"]["eventTypes"]) == ("EMAIL", [])
    listing = await api.raw("admin", ENDPOINTS, {"org": "cpn"})
    assert [e["kind"] for e in listing.json()["data"]["notificationEndpoints"]] == ["WEBHOOK", "EMAIL"]
    assert secret not in listing.text and secret.removeprefix("whsec_") not in listing.text


async def test_an_update_changes_what_it_names_from_the_version_seen(api: Gateway) -> None:
    endpoint = (await _register(api))["endpoint"]
    change = {"endpointId": endpoint["id"], "expectedVersion": 1, "eventTypes": [], "active": False}

    updated = (await api.gql("admin", UPDATE_ENDPOINT, {"input": change}))["data"]["updateEndpoint"]
    stale = (await api.gql("admin", UPDATE_ENDPOINT, {"input": change}))["data"]["updateEndpoint"]

    assert (updated["endpoint"]["eventTypes"], updated["endpoint"]["active"], updated["endpoint"]["version"]) == (
        [],
        False,
        2,
    )
    assert updated["endpoint"]["disabledReason"] == "administrator" and updated["endpoint"]["url"] == HOOK
    assert stale["__typename"] == "OperationError" and stale["code"] == "conflict"


async def test_rotation_shows_the_new_secret_once_and_keeps_the_old_one_for_the_overlap(api: Gateway) -> None:
    registered = await _register(api)
    endpoint_id = registered["endpoint"]["id"]

    rotated = (
        await api.gql(
            "admin", ROTATE_SECRET, {"input": {"endpointId": endpoint_id, "expectedVersion": 1, "overlapHours": 2}}
        )
    )["data"]["rotateEndpointSecret"]
    stale = (await api.gql("admin", ROTATE_SECRET, {"input": {"endpointId": endpoint_id, "expectedVersion": 1}}))[
        "data"
    ]["rotateEndpointSecret"]
    too_long = (
        await api.gql(
            "admin", ROTATE_SECRET, {"input": {"endpointId": endpoint_id, "expectedVersion": 2, "overlapHours": 1000}}
        )
    )["data"]["rotateEndpointSecret"]

    assert rotated["__typename"] == "NotificationEndpointSecretPayload"
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != registered["secret"]
    assert rotated["endpoint"]["version"] == 2 and rotated["endpoint"]["previousSecretExpiresAt"] is not None
    assert (stale["__typename"], stale["code"]) == ("OperationError", "conflict")
    assert (too_long["__typename"], too_long["code"]) == ("OperationError", "validation")


async def test_a_refused_destination_is_an_operation_error_that_does_not_repeat_it(
    api: Gateway, database_url: str
) -> None:
    metadata_url = "http://169.254.169.254/latest/meta-data/iam"
    refused = await _register(api, url=metadata_url)
    overlong = await _register(api, url="http://127.0.0.1/" + "a" * 2100)
    unknown = await _register(api, organisation="no-such-organisation")

    assert (refused["__typename"], refused["code"]) == ("OperationError", "validation")
    assert "169.254" not in refused["message"]
    assert (overlong["__typename"], overlong["code"]) == ("OperationError", "validation")
    assert (unknown["__typename"], unknown["code"]) == ("OperationError", "validation")
    assert "no-such-organisation" not in unknown["message"]
    assert await _rows(database_url, NotificationEndpoint) == 0


async def _dead_delivery(database_url: str, endpoint_id: int) -> int:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            event = OutboxEvent(type="task.requested", organisation_id=1, subject_ids={"task": 1})
            db.add(event)
            await db.flush()
            assert event.id is not None
            now = utc_now()
            delivery = NotificationDelivery(
                event_id=event.id,
                endpoint_id=endpoint_id,
                subject_key="task:1",
                status="dead",
                attempts=12,
                next_attempt_at=now,
                last_status_code=503,
                last_error="http-503",
                dead_at=now,
            )
            db.add(delivery)
            await db.flush()
            assert delivery.id is not None
            return delivery.id
    finally:
        await engine.dispose()


async def test_dead_letters_are_listed_and_redelivered(api: Gateway, database_url: str) -> None:
    endpoint_id = int((await _register(api))["endpoint"]["id"])
    dead_id = await _dead_delivery(database_url, endpoint_id)

    dead = (await api.gql("admin", DELIVERIES, {"status": "DEAD", "first": 10}))["data"]["notificationDeliveries"]
    again = (await api.gql("admin", REDELIVER, {"input": {"deliveryId": str(dead_id)}}))["data"][
        "redeliverNotification"
    ]
    twice = (await api.gql("admin", REDELIVER, {"input": {"deliveryId": str(dead_id)}}))["data"][
        "redeliverNotification"
    ]
    dead_after = (await api.gql("admin", DELIVERIES, {"status": "DEAD", "first": 10}))["data"]["notificationDeliveries"]

    assert dead == {
        "items": [
            {
                "id": str(dead_id),
                "eventId": dead["items"][0]["eventId"],
                "eventType": "task.requested",
                "endpointId": str(endpoint_id),
                "subjectKey": "task:1",
                "status": "DEAD",
                "attempts": 12,
                "lastStatusCode": 503,
                "lastError": "http-503",
                "deadAt": dead["items"][0]["deadAt"],
            }
        ],
        "nextCursor": None,
    }
    assert again["delivery"] | {"eventType": "task.requested"} == {
        "id": str(dead_id),
        "status": "PENDING",
        "attempts": 12,
        "eventType": "task.requested",
        "deadAt": None,
    }
    assert (twice["__typename"], twice["code"]) == ("OperationError", "invalid-transition")
    assert dead_after == {"items": [], "nextCursor": None}


async def test_deliveries_are_paged(api: Gateway, database_url: str) -> None:
    endpoint_id = int((await _register(api))["endpoint"]["id"])
    ids = [await _dead_delivery(database_url, endpoint_id) for _ in range(3)]

    first = (await api.gql("admin", DELIVERIES, {"first": 2}))["data"]["notificationDeliveries"]
    rest = (await api.gql("admin", DELIVERIES, {"first": 2, "after": first["nextCursor"]}))["data"][
        "notificationDeliveries"
    ]
    too_many = await api.gql("admin", DELIVERIES, {"first": 101})

    assert [int(i["id"]) for i in first["items"] + rest["items"]] == ids
    assert rest["nextCursor"] is None
    assert too_many["data"] is None and "between 1 and 100" in too_many["errors"][0]["message"]


def _every_operation(endpoint_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "notificationEndpoints": (ENDPOINTS, {"org": "cpn"}),
        "notificationDeliveries": (DELIVERIES, {"first": 5}),
        "registerWebhookEndpoint": (REGISTER_WEBHOOK, {"input": {"organisation": "cpn", "url": HOOK}}),
        "registerMailbox": (REGISTER_MAILBOX, {"input": {"organisation": "cpn", "mailbox": "team@cpn.example.org"}}),
        "updateEndpoint": (
            UPDATE_ENDPOINT,
            {"input": {"endpointId": endpoint_id, "expectedVersion": 1, "active": False}},
        ),
        "rotateEndpointSecret": (ROTATE_SECRET, {"input": {"endpointId": endpoint_id, "expectedVersion": 1}}),
        "redeliverNotification": (REDELIVER, {"input": {"deliveryId": "1"}}),
    }


@pytest.mark.parametrize("role", [None, "hub", "hub-supervisor", "commissioner", "cpn", "rj-hub"])
async def test_every_other_caller_is_refused_and_nothing_changes(
    api: Gateway, database_url: str, role: str | None
) -> None:
    registered = await _register(api)
    endpoint_id = registered["endpoint"]["id"]

    answers = {
        name: (await api.raw(role, query, variables)).json()
        for name, (query, variables) in _every_operation(endpoint_id).items()
    }

    for name, body in answers.items():
        assert body["data"] is None or body["data"][name] is None, (name, body)
        assert [e.get("extensions", {}).get("code") for e in body["errors"]] == ["forbidden"], (name, body)
        assert registered["secret"] not in str(body)
    assert await _rows(database_url, NotificationEndpoint) == 1
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as db:
            stored = (
                await db.exec(select(NotificationEndpoint).where(col(NotificationEndpoint.id) == int(endpoint_id)))
            ).one()
    finally:
        await engine.dispose()
    assert (stored.version, stored.active, stored.secret) == (1, True, registered["secret"])
