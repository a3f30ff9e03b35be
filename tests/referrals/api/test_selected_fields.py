"""Victim fields are read from the database only when a query selects them, and every selection still gets them.

The inbox prefetches each page's victims reading only the columns the query's `victim { ... }` selections ask for
(the union over aliases, fragments and fields a directive may skip). These tests hold the answers to what the
full selection gives, however the query is written.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from types import SimpleNamespace
from typing import Any

from gateway.referrals.service import (
    FIELD_SOURCES,
    VIEW_ATTRIBUTES,
    VIEW_STANDING_ATTRIBUTES,
    ProviderVictimView,
    victim_fields_for_attributes,
)
from providers.profile import VictimField
from tests.support.api import Gateway, sent_task

FULL = """{ inbox(first: 10) { items { id victim { fields givenName familyName address postcode phone email
  safeContact { safePhone } language crimeCategory needs } } } }"""


def _victims(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert "errors" not in body, body
    return {item["id"]: item for item in body["data"]["inbox"]["items"]}


async def test_a_narrow_selection_answers_as_the_full_one_does(gateway: Gateway) -> None:
    sent = await sent_task(gateway, "cpn")
    full = _victims(await gateway.gql("cpn", FULL))[sent.task_id]["victim"]
    assert full["givenName"] == "Alex" and full["address"] == "1 Example Street, Cambridge"

    narrow = _victims(await gateway.gql("cpn", "{ inbox(first: 10) { items { id victim { fields givenName } } } }"))
    assert narrow[sent.task_id]["victim"] == {"fields": full["fields"], "givenName": "Alex"}

    aliased = _victims(
        await gateway.gql(
            "cpn",
            "{ inbox(first: 10) { items { id a: victim { givenName } b: victim { address safeContact { safePhone } } "
            "...More } } } fragment More on Task { c: victim { ... on ProviderVictim { email needs } } }",
        )
    )[sent.task_id]
    assert aliased["a"] == {"givenName": "Alex"}
    assert aliased["b"] == {"address": full["address"], "safeContact": full["safeContact"]}
    assert aliased["c"] == {"email": full["email"], "needs": full["needs"]}


async def test_fields_behind_a_directive_are_read_too(gateway: Gateway) -> None:
    sent = await sent_task(gateway, "cpn")
    full = _victims(await gateway.gql("cpn", FULL))[sent.task_id]["victim"]
    query = """query($more: Boolean!) { inbox(first: 10) { items { id victim { givenName }
      extra: victim @include(if: $more) { phone language } victim { email @include(if: $more) } } } }"""
    shown = _victims(await gateway.gql("cpn", query, {"more": True}))[sent.task_id]
    assert shown["victim"] == {"givenName": "Alex", "email": full["email"]}
    assert shown["extra"] == {"phone": full["phone"], "language": full["language"]}
    hidden = _victims(await gateway.gql("cpn", query, {"more": False}))[sent.task_id]
    assert hidden == {"id": sent.task_id, "victim": {"givenName": "Alex"}}


async def test_a_single_task_reads_only_what_it_selects_and_still_answers(gateway: Gateway) -> None:
    sent = await sent_task(gateway, "cpn")
    body = await gateway.gql("cpn", "query($id: ID!) { task(id: $id) { victim { familyName } } }", {"id": sent.task_id})
    assert body["data"]["task"]["victim"] == {"familyName": "Example"}


def test_every_field_fills_exactly_the_attributes_it_is_listed_with() -> None:
    row = SimpleNamespace(
        **{column.name: _sample(column) for source in FIELD_SOURCES.values() for column in source.columns}
    )
    for victim_field, source in FIELD_SOURCES.items():
        assert set(source.values(row, date(2026, 11, 30))) == set(VIEW_ATTRIBUTES[victim_field]), victim_field
    data_attributes = {f.name for f in dataclasses.fields(ProviderVictimView)} - VIEW_STANDING_ATTRIBUTES
    assert data_attributes == {name for names in VIEW_ATTRIBUTES.values() for name in names}
    assert set(VIEW_ATTRIBUTES) == set(VictimField)


def test_an_attribute_it_cannot_place_reads_everything() -> None:
    assert victim_fields_for_attributes(["given_name", "redacted"]) == frozenset({VictimField.NAME})
    assert victim_fields_for_attributes(["given_name", "something_new"]) is None


def _sample(column: Any) -> Any:
    if column.name == "date_of_birth":
        return date(2000, 1, 1)
    if column.name == "needs":
        return ["emotional"]
    return f"sample {column.name}"
