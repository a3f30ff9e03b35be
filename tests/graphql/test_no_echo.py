"""No error repeats what was sent: every invalid-input path, fed recognisable values, answers and logs none of them.

Every text a request carries holds a marker unique to the run. The requests go through every door that refuses
input (GraphQL variables and literals, the parser, the paging arguments, /self-referral, the OAuth endpoints, the
bearer check, the calendar feed); then no response (body or header) and no log line (the JSON line the gateway
writes, and the record's own message and fields) may hold the marker.

Before, a missing required field answered "found: {...}" with the victim's name, date of birth and phone, and a
wrong type or a bad date quoted the value.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.logs import JsonLineFormatter
from tests.support.api import (
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    key,
    referral_input,
    sent_task,
    settings,
    world,
)

__all__ = ["api_templates", "client", "database_url", "gateway", "settings", "world"]

MARK = "Zq" + uuid.uuid4().hex[:10]
REFUSAL = "{ __typename ... on OperationError { code message } }"
CREATE = "mutation($input: CreateReferralInput!) { createReferral(input: $input) " + REFUSAL + " }"
ACCEPT = "mutation($input: TaskChangeInput!) { acceptTask(input: $input) " + REFUSAL + " }"
CONTACT = (
    "mutation($input: RecordContactAttemptInput!) { recordContactAttempt(input: $input) "
    "{ __typename ... on OperationError { code message } } }"
)


def marked(value: Any, label: str = "") -> Any:
    """The value with every text replaced by a marked one (the keys stay: they are the schema's names)."""
    if isinstance(value, dict):
        return {name: marked(item, f"{label}.{name}") for name, item in value.items()}
    if isinstance(value, list):
        return [marked(item, f"{label}{index}") for index, item in enumerate(value)]
    if isinstance(value, str):
        return f"{MARK}{label}"
    return value


def victim_input() -> dict[str, Any]:
    """A whole referral whose victim, case and consent texts all carry the marker."""
    full = referral_input(providers=["cpn"], age=15)
    full["victim"] = marked(full["victim"], "victim")
    full["case"]["crimeReference"] = f"{MARK}-crime-reference"
    full["case"]["assessmentNotes"] = f"{MARK}-notes"
    return full


def changed(base: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    value = copy.deepcopy(base)
    change(value)
    return value


def _set(path: str, to: Any) -> Callable[[dict[str, Any]], None]:
    def change(value: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            value = value[part]
        value[last] = to

    return change


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(value: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            value = value[part]
        del value[last]

    return change


def graphql_cases(task_id: str) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(name, role, query, variables): each an invalid input carrying the marker."""
    base = victim_input()
    variable_cases = {
        "a missing required field": _drop("victim.familyName"),
        "a missing required object": _drop("case"),
        "a missing idempotency key": _drop("idempotencyKey"),
        "a null for a non-null field": _set("victim.givenName", None),
        "a text where an object belongs": _set("victim", f"{MARK}-victim"),
        "a text where a number belongs": _set("consents", [{"givenBy": f"{MARK}-by", "method": 1}]),
        "a bad date": _set("victim.dateOfBirth", f"{MARK}-date"),
        "a bad date-time": _set("consents", [{**base["consents"][0], "givenAt": f"{MARK}-when"}]),
        "an unknown enum or code": _set("case.crimeCategory", f"{MARK}-crime"),
        "an unknown need": _set("case.needs", [f"{MARK}-need"]),
        "an unknown provider": _set("providers", [f"{MARK}-provider"]),
        "an unknown consent method": _set("consents", [{**base["consents"][0], "method": f"{MARK}-method"}]),
        "an unknown field": _set("victim.givenNam", f"{MARK}-misspelt"),
        "an unknown field that is no name": _set(f"victim.{MARK} key", 1),
        "a too-long name": _set("victim.givenName", MARK * 2000),
        "a too-long phone": _set("victim.phone", MARK * 20),
        "an over-long list": _set("case.needs", [f"{MARK}-{i}" for i in range(101)]),
        "a list of objects where text belongs": _set("providers", [{"slug": f"{MARK}-slug"}]),
    }
    cases: list[tuple[str, str, str, dict[str, Any] | None]] = [
        (name, "hub", CREATE, {"input": changed(base, change)}) for name, change in variable_cases.items()
    ]
    cases += [
        ("a whole input that is text", "hub", CREATE, {"input": f"{MARK}-input"}),
        (
            "a literal missing a required field",
            "hub",
            'mutation { createReferral(input: {victim: {givenName: "%s-g", phone: "%s-p", dateOfBirth: "2011-01-15"}})'
            " { __typename } }".replace("%s", MARK),
            None,
        ),
        (
            "a literal of the wrong type",
            "hub",
            'mutation { createReferral(input: {idempotencyKey: "%s-k", victim: "%s-v"}) { __typename } }'.replace(
                "%s", MARK
            ),
            None,
        ),
        ("a literal text for a number", "cpn", '{ inbox(first: "%s") { nextCursor } }'.replace("%s", MARK), None),
        ("a literal object for an id", "cpn", '{ task(id: {a: "%s"}) { id } }'.replace("%s", MARK), None),
        ("a literal unknown enum", "cpn", "{ inbox(status: [%s]) { nextCursor } }".replace("%s", MARK), None),
        ("a text status", "cpn", '{ inbox(status: ["%s"]) { nextCursor } }'.replace("%s", MARK), None),
        ("a syntax error after a text", "hub", '{ task(id: "%s-a" "%s-b") { id } }'.replace("%s", MARK), None),
        ("a syntax error in a name", "hub", "{ task(id: 1%s) { id } }".replace("%s", MARK), None),
        ("an unterminated text", "hub", '{ task(id: "%s'.replace("%s", MARK), None),
        ("a bad escape", "hub", '{ task(id: "\\%s") { id } }'.replace("%s", MARK), None),
        ("a bad id", "cpn", "query($id: ID!) { task(id: $id) { id } }", {"id": f"{MARK}-id"}),
        ("an object for an id", "cpn", "query($id: ID!) { task(id: $id) { id } }", {"id": {MARK: MARK}}),
        ("an id too large", "cpn", "query($id: ID!) { task(id: $id) { id } }", {"id": "9" * 25}),
        ("a bad RJ case id", "rj-hub", "query($id: ID!) { rjCase(id: $id) { id } }", {"id": f"{MARK}-rj"}),
        ("a bad cursor", "cpn", "query($a: String) { inbox(after: $a) { nextCursor } }", {"a": f"{MARK}-cursor"}),
        ("a text page size", "cpn", "query($f: Int!) { inbox(first: $f) { nextCursor } }", {"f": f"{MARK}-first"}),
        (
            "a bad task id in a change",
            "cpn",
            ACCEPT,
            {"input": {"taskId": f"{MARK}-task", "expectedVersion": 1, "idempotencyKey": f"{MARK}-key"}},
        ),
        (
            "a text version",
            "cpn",
            ACCEPT,
            {"input": {"taskId": task_id, "expectedVersion": f"{MARK}-v", "idempotencyKey": key()}},
        ),
        (
            "a contact attempt with unknown codes and a bad time",
            "cpn",
            CONTACT,
            {
                "input": {
                    "taskId": task_id,
                    "expectedVersion": 1,
                    "idempotencyKey": key(),
                    "attemptedAt": f"{MARK}-when",
                    "method": f"{MARK}-method",
                    "result": f"{MARK}-result",
                    "note": f"{MARK}-note",
                }
            },
        ),
        (
            "a contact attempt with unknown codes",
            "cpn",
            CONTACT,
            {
                "input": {
                    "taskId": task_id,
                    "expectedVersion": 1,
                    "idempotencyKey": key(),
                    "attemptedAt": "2026-11-30T10:00:00+00:00",
                    "method": f"{MARK}-method",
                    "result": f"{MARK}-result",
                }
            },
        ),
    ]
    return cases


SELF_REFERRAL = {"given_name": f"{MARK}-given", "family_name": f"{MARK}-family", "consent_to_contact": True}
SELF_REFERRAL_BODIES: list[tuple[str, bytes, str]] = [
    ("an unknown field", json.dumps({**SELF_REFERRAL, "shoe_size": f"{MARK}-shoe"}).encode(), "application/json"),
    ("an unknown odd field", json.dumps({**SELF_REFERRAL, f"{MARK} x": 1}).encode(), "application/json"),
    ("a missing field", json.dumps({"given_name": f"{MARK}-given"}).encode(), "application/json"),
    ("a wrong type", json.dumps({**SELF_REFERRAL, "consent_to_contact": f"{MARK}-yes"}).encode(), "application/json"),
    ("a bad date", json.dumps({**SELF_REFERRAL, "date_of_birth": f"{MARK}-dob"}).encode(), "application/json"),
    ("a long name", json.dumps({**SELF_REFERRAL, "family_name": MARK * 50}).encode(), "application/json"),
    ("a control character", json.dumps({**SELF_REFERRAL, "phone": f"{MARK}\x07"}).encode(), "application/json"),
    ("an unknown crime", json.dumps({**SELF_REFERRAL, "crime_category": f"{MARK}-c"}).encode(), "application/json"),
    ("an unknown need", json.dumps({**SELF_REFERRAL, "needs": [f"{MARK}-n"]}).encode(), "application/json"),
    ("a list body", json.dumps([SELF_REFERRAL]).encode(), "application/json"),
    ("malformed JSON", b'{"given_name": "' + MARK.encode() + b'", ', "application/json"),
    ("a form", f"given_name={MARK}".encode(), "application/x-www-form-urlencoded"),
]


async def _oauth_requests(http: httpx.AsyncClient, gateway: Gateway) -> list[httpx.Response]:
    client_id, secret = gateway.world.credentials["hub"]
    forms: list[tuple[dict[str, str], tuple[str, str] | None]] = [
        ({"grant_type": f"{MARK}-grant"}, (client_id, secret)),
        ({"grant_type": "client_credentials", "scope": f"{MARK}-scope"}, (client_id, secret)),
        ({"grant_type": "client_credentials"}, (f"{MARK}-client", f"{MARK}-secret")),
        ({"grant_type": "client_credentials", "client_id": f"{MARK}-id", "client_secret": f"{MARK}-s"}, None),
        ({"grant_type": "refresh_token", "refresh_token": f"{MARK}-refresh"}, (client_id, secret)),
        (
            {"grant_type": "authorization_code", "code": f"{MARK}-code", "redirect_uri": f"https://{MARK}.test/cb"},
            (client_id, secret),
        ),
    ]
    answers = [
        await http.post("/oauth/token", data=form, auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT)
        for form, auth in forms
    ]
    answers.append(await http.post("/oauth/token", content=f'{{"grant_type": "{MARK}"}}'))
    for path in ("/oauth/revoke", "/oauth/introspect"):
        answers.append(await http.post(path, data={"token": f"{MARK}-token"}, auth=(client_id, secret)))
        answers.append(await http.post(path, data={"token": f"{MARK}-token"}, auth=(f"{MARK}-c", f"{MARK}-s")))
    answers.append(
        await http.get("/oauth/authorize", params={"client_id": f"{MARK}-c", "redirect_uri": f"https://{MARK}.test"})
    )
    return answers


def _leaks(response: httpx.Response) -> bool:
    return MARK in response.text or any(MARK in value for value in response.headers.values())


async def test_no_error_of_any_kind_repeats_a_submitted_value(
    gateway: Gateway, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a task sent to the provider, so that changes to it reach its rules
    task = await sent_task(gateway, "cpn")
    for role in ("hub", "cpn", "rj-hub"):
        await gateway.token(role)
    caplog.set_level(logging.DEBUG)

    # When every invalid input is sent, each text in it marked
    answers: dict[str, httpx.Response] = {}
    for name, role, query, variables in graphql_cases(task.task_id):
        answers[f"graphql: {name}"] = await gateway.raw(role, query, variables)
    hub = {"authorization": f"Bearer {await gateway.token('hub')}", "content-type": "application/json"}
    answers["graphql: malformed JSON"] = await client.post(
        "/graphql",
        content=b'{"query": "{ viewer { organisation } }", "variables": {"a": "' + MARK.encode(),
        headers=hub,
    )
    answers["graphql: variables that are text"] = await client.post(
        "/graphql", content=json.dumps({"query": "{ providers { slug } }", "variables": MARK}).encode(), headers=hub
    )
    answers["graphql: a query that is a number"] = await client.post(
        "/graphql", content=b'{"query": 1, "operationName": "' + MARK.encode() + b'"}', headers=hub
    )
    for name, body, content_type in SELF_REFERRAL_BODIES:
        answers[f"self-referral: {name}"] = await client.post(
            "/self-referral", content=body, headers={"content-type": content_type, "idempotency-key": key()}
        )
    for index, answer in enumerate(await _oauth_requests(client, gateway)):
        answers[f"oauth: {index}"] = answer
    answers["bearer: a marker for a token"] = await client.post(
        "/graphql", json={"query": "{ viewer { organisation } }"}, headers={"authorization": f"Bearer {MARK}"}
    )
    answers["calendar: a marker for a token"] = await client.get("/rj/calendar.ics", params={"token": MARK})

    # Then no answer and no log line holds anything that was sent
    assert {name: answer.text[:300] for name, answer in answers.items() if _leaks(answer)} == {}
    formatter = JsonLineFormatter()
    logged = [
        record.name
        for record in caplog.records
        # httpx is the test's own client, logging the URLs it asked for
        if record.name != "httpx"
        and (MARK in formatter.format(record) or MARK in record.getMessage() or MARK in repr(vars(record)))
    ]
    assert logged == []
