"""The compiled inbox against the resolver path: the same JSON and the same audit rows, for generated selections.

Two apps on one PostgreSQL database, one with compiled reads (the default there) and one without, answer the same
generated documents (hypothesis) for callers of every kind: providers with tasks in every state, a provider with
none, and the Hub, which may not read an inbox at all. The tasks cover: the provider's own and another's, consent
valid, withdrawn, expired and narrowed to a few categories, a safeguarding override standing and one a withdrawal
ended, entered in error, overdue to accept and to first contact, a child with a guardian, contact attempts, and
times with and without microseconds. Each answer must be the same JSON, byte for byte once keys are sorted, and must
have written the same disclosure rows; and the compiled path must really have answered the provider's requests.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth import service as auth
from gateway.db import create_engine, create_session_factory
from gateway.graphql.compiled import CompiledReads
from gateway.graphql.pagination import encode_cursor
from gateway.referrals.compiled.common import TASK_LEAVES
from gateway.referrals.compiled.provider import ATTEMPT_LEAVES
from gateway.referrals.compiled.provider_victim import (
    CONSENT_LEAVES,
    GUARDIAN_LEAVES,
    PRIORITY_LEAVES,
    SAFE_CONTACT_LEAVES,
    VICTIM_LEAVES,
)
from gateway.referrals.models import TaskStatus
from gateway.settings import Settings
from tests.graphql.compiled_hub_world import person_token
from tests.graphql.test_trusted_documents import register
from tests.support.api import (
    CREATE_REFERRAL,
    ISSUER,
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    key,
    referral_input,
    sent_task,
    world,
)
from tests.support.compiled import COMPARE, compiled_settings, database_kind
from tests.support.loopback import served

__all__ = ["api_templates", "client", "compiled_settings", "database_kind", "database_url", "gateway", "world"]

ROLES = ("cpn", "family-action", "rape-crisis", "road-victims-trust", "hub")
VICTIM_STANDING = ("redacted", "redactionReason", "sharedUnderSafeguardingOverride", "fields")
WITHDRAW = """mutation($i: WithdrawConsentInput!) { withdrawConsent(input: $i) { __typename } }"""
ATTEMPT = """mutation($i: RecordContactAttemptInput!) {
  recordContactAttempt(input: $i) { __typename ... on OperationError { code message } } }"""
ACCEPT = """mutation($i: TaskChangeInput!) {
  acceptTask(input: $i) { __typename ... on TaskPayload { task { version } } } }"""


@dataclass(frozen=True)
class Paths:
    compiled: httpx.AsyncClient
    resolvers: httpx.AsyncClient
    compiled_reads: CompiledReads
    settings: Settings
    tokens: dict[str, str] = field(repr=False)
    cursors: tuple[str, ...]
    task_ids: tuple[int, ...] = ()


async def _sql(settings: Settings, *statements: str) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


async def _world(gateway: Gateway) -> list[int]:
    """Tasks in every state the inbox shows differently; their ids."""
    made = [await sent_task(gateway, "cpn") for _ in range(9)]
    child = await sent_task(gateway, "family-action", age=12)
    others = [
        await sent_task(gateway, "family-action", age=9),
        await sent_task(gateway, "rape-crisis", crime="sexual-offence", age=15),
    ]
    ids = [int(t.task_id) for t in (*made, child, *others)]
    # A referral created and never sent: its draft task exists to no provider.
    drafted = await gateway.gql("hub", CREATE_REFERRAL, {"input": referral_input(providers=["cpn"])})
    ids.append(int(drafted["data"]["createReferral"]["referral"]["tasks"][0]["id"]))
    normal, withdrawn, expired, override, override_ended, in_error, late_accept, late_contact, narrowed = made
    for task in (normal, late_contact):
        accepted = await gateway.gql(
            "cpn", ACCEPT, {"i": {"taskId": task.task_id, "expectedVersion": task.version, "idempotencyKey": key()}}
        )
        assert accepted["data"]["acceptTask"]["__typename"] == "TaskPayload", accepted
    for result in ("NO_ANSWER", "CONTACT_MADE"):
        moment = datetime.now(UTC).isoformat()
        attempt = {"taskId": normal.task_id, "attemptedAt": moment, "method": "PHONE"}
        recorded = await gateway.gql("cpn", ATTEMPT, {"i": attempt | {"result": result, "idempotencyKey": key()}})
        assert recorded["data"]["recordContactAttempt"]["__typename"] == "ContactAttemptPayload", recorded
    for task in (withdrawn, override_ended):
        done = await gateway.gql("hub", WITHDRAW, {"i": {"consentId": task.consent_id, "idempotencyKey": key()}})
        assert done["data"]["withdrawConsent"]["__typename"] == "ConsentPayload", done
    await _sql(
        gateway.world.settings,
        f"UPDATE consents SET expires_at = given_at + interval '1 day' WHERE id = {int(expired.consent_id)}",
        f"UPDATE consents SET provider_slugs = '[\"family-action\"]' WHERE id = {int(override.consent_id)}",
        "UPDATE referral_tasks SET safeguarding_override = true"
        f" WHERE id IN ({int(override.task_id)}, {int(override_ended.task_id)})",
        f"UPDATE referral_tasks SET status = 'entered-in-error' WHERE id = {int(in_error.task_id)}",
        f"UPDATE referral_tasks SET accept_due_at = now() - interval '2 hours' WHERE id = {int(late_accept.task_id)}",
        "UPDATE referral_tasks SET first_contact_due_at = now() - interval '1 hour'"
        f" WHERE id = {int(late_contact.task_id)}",
        f'UPDATE consents SET data_categories = \'["phone", "name", "needs"]\' WHERE id = {int(narrowed.consent_id)}',
        f"UPDATE referral_tasks SET requested_at = date_trunc('second', requested_at) WHERE id = {int(normal.task_id)}",
        f"UPDATE cases SET priority_most_serious_crime = true, assessment_notes = 'Notes \"quoted\"\n\\ and ünïcode'"
        f" WHERE id = (SELECT case_id FROM referral_tasks WHERE id = {int(normal.task_id)})",
    )
    return ids


HUB_TASK_READER = "hub-task-reader"


async def _hub_task_reader(gateway: Gateway) -> str:
    """A Hub client that also holds tasks:read: it reaches the Hub's own tasks through `task`, but never a
    provider's view of their victim (the resolvers' loaders read that through the provider's ownership)."""
    engine = create_engine(gateway.world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            created = await auth.add_client(
                db=db, organisation_slug="hub", name=HUB_TASK_READER, scopes="referrals:read tasks:read"
            )
    finally:
        await engine.dispose()
    assert created.secret is not None
    response = await gateway.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(created.client.client_id, created.secret)
    )
    return str(response.json()["access_token"])


@pytest.fixture
async def paths(gateway: Gateway, client: httpx.AsyncClient, app: Starlette) -> AsyncIterator[Paths]:
    ids = await _world(gateway)
    tokens = {role: await gateway.token(role) for role in ROLES}
    tokens[HUB_TASK_READER] = await _hub_task_reader(gateway)
    resolver_app = create_app(gateway.world.settings.model_copy(update={"compiled_reads": False}))
    assert resolver_app.state.compiled_reads is None
    compiled_reads = app.state.compiled_reads
    assert isinstance(compiled_reads, CompiledReads)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=resolver_app), base_url=ISSUER) as resolvers:
            cursors = tuple(encode_cursor(i) for i in (ids[0], ids[4], ids[9]))
            yield Paths(client, resolvers, compiled_reads, gateway.world.settings, tokens, cursors, tuple(ids))
    finally:
        await resolver_app.state.engine.dispose()


# -- generated documents -----------------------------------------------------------------------------------------


def _pick(names: tuple[str, ...] | list[str], *, min_size: int = 1) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(sorted(names)), min_size=min_size, max_size=len(names), unique=True)


@st.composite
def _selection(draw: st.DrawFn, names: list[str], objects: dict[str, st.SearchStrategy[str]]) -> str:
    """Most fields (each three times in four), in a drawn order, some under an alias, objects with their own."""
    every = draw(st.permutations(names + list(objects)))
    chosen = [name for name in every if draw(st.integers(0, 3)) > 0] or [every[0]]
    parts = []
    for position, name in enumerate(chosen):
        alias = f"a{position}_{name}: " if draw(st.integers(0, 5)) == 0 else ""
        inner = " " + draw(objects[name]) if name in objects else ""
        parts.append(f"{alias}{name}{inner}")
    if draw(st.integers(0, 7)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), "__typename")
    return "{ " + " ".join(parts) + " }"


def _leaves(names: Any) -> st.SearchStrategy[str]:
    return _selection(sorted(names), {})


VICTIM = _selection(
    sorted([*VICTIM_LEAVES, *VICTIM_STANDING]),
    {
        "safeContact": _leaves(SAFE_CONTACT_LEAVES),
        "guardian": _leaves(GUARDIAN_LEAVES),
        "priorityFlags": _leaves(PRIORITY_LEAVES),
    },
)
TASK = _selection(
    sorted(TASK_LEAVES),
    {"victim": VICTIM, "consent": _leaves(CONSENT_LEAVES), "contactAttempts": _leaves(ATTEMPT_LEAVES)},
)


@st.composite
def _inbox(draw: st.DrawFn, cursors: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """An inbox document and its variables: each argument absent, a literal, or a variable."""
    values: dict[str, Any] = {}
    if draw(st.booleans()):
        values["first"] = draw(st.sampled_from([1, 3, 7, 50, 100]))
    if draw(st.integers(0, 3)) == 0:
        values["after"] = draw(st.sampled_from(cursors))
    if draw(st.integers(0, 4)) == 0:
        values["status"] = draw(_pick([s.name for s in TaskStatus], min_size=1).map(lambda s: s[:3]))
    if draw(st.integers(0, 3)) == 0:
        values["overdueOnly"] = draw(st.booleans())
    types = {"first": "Int!", "after": "String", "status": "[TaskStatus!]", "overdueOnly": "Boolean"}
    literal: dict[str, Callable[[Any], str]] = {
        "first": str,
        "after": lambda v: f'"{v}"',
        "status": lambda v: "[" + ", ".join(v) + "]",
        "overdueOnly": lambda v: "true" if v else "false",
    }
    declared, arguments, variables = [], [], {}
    for name, value in values.items():
        if draw(st.booleans()):
            declared.append(f"${name}: {types[name]}")
            arguments.append(f"{name}: ${name}")
            variables[name] = value
        else:
            arguments.append(f"{name}: {literal[name](value)}")
    page = draw(_selection(["nextCursor"], {"items": TASK}))
    signature = f"query Inbox({', '.join(declared)})" if declared else "query"
    call = f"inbox({', '.join(arguments)})" if arguments else "inbox"
    return f"{signature} {{ {call} {page} }}", variables


# -- comparing ---------------------------------------------------------------------------------------------------


def _canonical(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


async def _disclosures(settings: Settings, after_id: int) -> tuple[int, Counter[tuple[Any, ...]]]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            rows: list[Any] = list(
                await connection.exec_driver_sql(
                    "SELECT id, category, action, purpose, actor_organisation_id, actor, victim_id,"
                    " subject_ids::text, recipient_organisation_id, safeguarding_override"
                    f" FROM audit_log WHERE id > {int(after_id)} ORDER BY id"
                )
            )
    finally:
        await engine.dispose()
    last = max([after_id, *(row[0] for row in rows)])
    found: Counter[tuple[Any, ...]] = Counter(
        (*row[1:7], orjson.loads(row[7]).get("task") if row[7] else None, *row[8:]) for row in rows
    )
    return last, found


async def _ask(http: httpx.AsyncClient, token: str, document: str, variables: dict[str, Any]) -> httpx.Response:
    body = {"query": document, "variables": variables}
    return await http.post("/graphql", json=body, headers={"authorization": f"Bearer {token}"})


@settings(COMPARE)
@given(data=st.data())
async def test_the_compiled_inbox_answers_as_the_resolvers_do(paths: Paths, data: st.DataObject) -> None:
    role = data.draw(st.sampled_from((*ROLES, "cpn", "cpn")), label="role")  # cpn has tasks in every state
    document, variables = data.draw(_inbox(paths.cursors), label="document")
    before, _ = await _disclosures(paths.settings, 0)
    answered = paths.compiled_reads.answered

    by_resolvers = await _ask(paths.resolvers, paths.tokens[role], document, variables)
    middle, resolver_rows = await _disclosures(paths.settings, before)
    compiled = await _ask(paths.compiled, paths.tokens[role], document, variables)
    _, compiled_rows = await _disclosures(paths.settings, middle)

    assert compiled.status_code == by_resolvers.status_code, (document, compiled.text, by_resolvers.text)
    assert _canonical(compiled.json()) == _canonical(by_resolvers.json()), (document, variables)
    assert compiled_rows == resolver_rows, document
    # The compiled path answers every document the resolvers answer without error for a provider; the Hub (no
    # tasks:read) and documents the limits refuse (too many aliases, say) are the resolvers' to refuse, as ever.
    expected = role != "hub" and "errors" not in by_resolvers.json()
    assert paths.compiled_reads.answered == answered + expected, f"the wrong path answered {document}"


EVERY_FIELD = """query Inbox($first: Int!, $after: String, $status: [TaskStatus!], $overdueOnly: Boolean) {{
  inbox(first: $first, after: $after, status: $status, overdueOnly: $overdueOnly) {{
    __typename nextCursor
    items {{
      __typename {}
      victim {{ __typename {} safeContact {{ {} }} guardian {{ {} }} priorityFlags {{ {} }} }}
      consent {{ __typename {} }}
      contactAttempts {{ __typename {} }}
    }}
  }}
}}""".format(
    " ".join(TASK_LEAVES),
    " ".join([*VICTIM_STANDING, *VICTIM_LEAVES]),
    " ".join(SAFE_CONTACT_LEAVES),
    " ".join(GUARDIAN_LEAVES),
    " ".join(PRIORITY_LEAVES),
    " ".join(CONSENT_LEAVES),
    " ".join(ATTEMPT_LEAVES),
)
PAGES = (
    {"first": 100},
    {"first": 4},
    {"first": 4, "after": "cursor"},
    {"first": 20, "status": ["REQUESTED", "ACCEPTED"]},
    {"first": 20, "overdueOnly": True},
)


@pytest.mark.parametrize("role", ROLES)
async def test_every_field_of_every_task_state_is_the_same_on_both_paths(paths: Paths, role: str) -> None:
    for page in PAGES:
        variables = page | ({"after": paths.cursors[1]} if "after" in page else {})
        answered = paths.compiled_reads.answered
        by_resolvers = await _ask(paths.resolvers, paths.tokens[role], EVERY_FIELD, variables)
        compiled = await _ask(paths.compiled, paths.tokens[role], EVERY_FIELD, variables)
        assert compiled.status_code == by_resolvers.status_code == 200
        assert _canonical(compiled.json()) == _canonical(by_resolvers.json()), variables
        assert paths.compiled_reads.answered == answered + (role != "hub")
    if role == "cpn":
        items = compiled.json()["data"]["inbox"]["items"]
        assert len(items) >= 1  # the overdue page holds the two late tasks; nothing vacuous is compared


ODD_REQUESTS: tuple[tuple[str, dict[str, Any], str | None], ...] = (
    ("query($f: Int!) { inbox(first: $f) { nextCursor } }", {}, None),
    ("query($f: Int!) { inbox(first: $f) { nextCursor } }", {"f": None}, None),
    ("query($f: Int) { inbox(first: $f) { nextCursor } }", {"f": None}, None),
    ("query($f: Int) { inbox(first: $f) { items { id } } }", {}, None),
    ("query($f: Int!) { inbox(first: $f) { nextCursor } }", {"f": "7"}, None),
    ("query($f: Int!) { inbox(first: $f) { nextCursor } }", {"f": 0}, None),
    ("query($f: Int!) { inbox(first: $f) { nextCursor } }", {"f": 101}, None),
    ("query($f: Int!) { inbox(first: $f) { nextCursor } }", {"f": 2**40}, None),
    ("query($a: String) { inbox(after: $a) { nextCursor } }", {"a": "not-ours"}, None),
    ("query($a: String) { inbox(after: $a) { nextCursor } }", {"a": encode_cursor(2**63)}, None),
    ("query($s: [TaskStatus!]) { inbox(status: $s) { items { id } } }", {"s": ["NOPE"]}, None),
    ("query($s: [TaskStatus!]) { inbox(status: $s) { items { id } } }", {"s": "REQUESTED"}, None),
    ("query($s: [TaskStatus!]) { inbox(status: $s) { items { id } } }", {"s": []}, None),
    ("query($o: Boolean) { inbox(overdueOnly: $o) { items { id } } }", {"o": "yes"}, None),
    ("query($f: Int!, $unused: Int) { inbox(first: $f) { nextCursor } }", {"f": 2}, None),
    ("query($f: Int!) { inbox(first: $f) { nextCursor } }", {"f": 2, "extra": 1}, None),
    ("query A { inbox { nextCursor } } query B { inbox { items { id } } }", {}, "B"),
    ("query A { inbox { nextCursor } } query B { inbox { items { id } } }", {}, None),
    ("query A { inbox { nextCursor } }", {}, "C"),
    ("{ inbox { items { id } } inbox { items { id } } }", {}, None),
    ("{ inbox { items { id ... on Task { reference } } } }", {}, None),
    ("{ inbox { items { id @skip(if: true) reference } } }", {}, None),
    ("{ inbox(first: 2) { items { victim { givenName } } } }", {"s": "text\u0000with NUL"}, None),
    ("{ inbox { items { victim { nope } } } }", {}, None),
)


@pytest.mark.parametrize("role", ["cpn", "hub"])
async def test_odd_requests_get_the_same_answer_on_both_paths(paths: Paths, role: str) -> None:
    for document, variables, operation_name in ODD_REQUESTS:
        body = {"query": document, "variables": variables, "operationName": operation_name}
        headers = {"authorization": f"Bearer {paths.tokens[role]}"}
        by_resolvers = await paths.resolvers.post("/graphql", json=body, headers=headers)
        compiled = await paths.compiled.post("/graphql", json=body, headers=headers)
        assert compiled.status_code == by_resolvers.status_code, document
        assert _canonical(compiled.json()) == _canonical(by_resolvers.json()), (document, variables)


INBOX = "{ inbox(first: 5) { items { id victim { givenName } } } }"


async def _inbox_status(paths: Paths, token: str) -> tuple[int, int, Any]:
    answered = paths.compiled_reads.answered
    response = await _ask(paths.compiled, token, INBOX, {})
    return response.status_code, paths.compiled_reads.answered - answered, response.json()


@pytest.mark.parametrize(
    "withdraw",
    [
        "revoked",
        "UPDATE oauth_clients SET active = false WHERE client_id = '{client}'",
        "UPDATE organisations SET active = false WHERE slug = 'cpn'",
    ],
)
async def test_a_refused_token_is_refused_on_the_very_next_compiled_read(
    paths: Paths, gateway: Gateway, withdraw: str
) -> None:
    status, compiled, body = await _inbox_status(paths, paths.tokens["cpn"])
    assert (status, compiled) == (200, 1) and body["data"]["inbox"]["items"]
    before, _ = await _disclosures(paths.settings, 0)

    client_id, secret = gateway.world.credentials["cpn"]
    if withdraw == "revoked":
        revoked = await paths.compiled.post(
            "/oauth/revoke", data={"token": paths.tokens["cpn"]}, auth=(client_id, secret)
        )
        assert revoked.status_code == 200
    else:
        await _sql(paths.settings, withdraw.format(client=client_id))

    status, compiled, body = await _inbox_status(paths, paths.tokens["cpn"])
    assert status == 401 and compiled == 0
    assert body == {"error": "invalid-token", "message": "The access token is invalid, expired or revoked."}
    after, disclosed = await _disclosures(paths.settings, before)
    assert after == before and not disclosed  # nothing was read, so nothing was logged as disclosed
    # The resolver path gives the same refusal.
    refused = await _ask(paths.resolvers, paths.tokens["cpn"], INBOX, {})
    assert (refused.status_code, refused.json()) == (status, body)


@pytest.mark.parametrize(
    "withdraw",
    [
        "UPDATE users SET roles = '[\"commissioner-analyst\"]' WHERE email = 'caseworker@cpn.test'",
        "UPDATE users SET active = false WHERE email = 'caseworker@cpn.test'",
    ],
)
async def test_a_caseworker_whose_role_goes_gets_no_data_on_the_very_next_compiled_read(
    paths: Paths, withdraw: str
) -> None:
    # Given a provider's caseworker signed in (a person's token, not a client's) whose inbox the compiled path read
    token = await person_token(
        paths.compiled,
        paths.settings,
        email="caseworker@cpn.test",
        roles=["provider-caseworker"],
        scope="tasks:read",
        organisation="cpn",
    )
    status, compiled, body = await _inbox_status(paths, token)
    assert (status, compiled) == (200, 1) and body["data"]["inbox"]["items"]
    before, _ = await _disclosures(paths.settings, 0)

    # When their role is taken away (or they are deactivated) after the token was issued
    await _sql(paths.settings, withdraw)

    # Then the very next read shows nothing: the compiled statement does not answer it, the resolvers refuse it,
    # and no disclosure is logged
    status, compiled, body = await _inbox_status(paths, token)
    assert compiled == 0 and (body.get("data") or {}).get("inbox") is None and "Alex" not in orjson.dumps(body).decode()
    after, disclosed = await _disclosures(paths.settings, before)
    assert after == before and not disclosed
    refused = await _ask(paths.resolvers, token, INBOX, {})
    assert (refused.status_code, _canonical(refused.json())) == (status, _canonical(body))


async def test_a_registered_document_is_compiled_at_start_up_and_run_by_its_id(
    paths: Paths, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the inbox registered as a trusted document before the server starts
    text = "query TrustedInbox { inbox(first: 3) { items { id victim { givenName } consent { state } } } }"
    [document_id] = await register(paths.settings.database_url, text)
    app = create_app(paths.settings)
    compiled_reads = app.state.compiled_reads
    assert isinstance(compiled_reads, CompiledReads)
    parsed: list[str] = []
    monkeypatch.setattr(compiled_reads, "_compile", lambda query, name: parsed.append(query))

    # When the server starts, and then a provider runs it by its id
    with served(app) as url:
        assert compiled_reads.plan(text, None) is not None  # compiled while starting, before any request
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await http.post(
                "/graphql",
                json={"documentId": document_id},
                headers={"authorization": f"Bearer {paths.tokens['cpn']}"},
            )

    # Then the compiled statement answered, without compiling the text again, as the resolvers would
    assert parsed == []
    assert answer.status_code == 200 and compiled_reads.answered == 1
    by_resolvers = await _ask(paths.resolvers, paths.tokens["cpn"], text, {})
    assert _canonical(answer.json()) == _canonical(by_resolvers.json())


TASK_EVERY_FIELD = EVERY_FIELD.split("items {", 1)[1].rsplit("}", 3)[0]
ONE_TASK_BY_VARIABLE = "query One($id: ID!) { task(id: $id) {" + TASK_EVERY_FIELD + "} }"


@pytest.mark.parametrize("role", ["cpn", "family-action", "road-victims-trust", HUB_TASK_READER])
async def test_one_task_is_the_same_on_both_paths_whoever_asks(paths: Paths, role: str) -> None:
    """Every task of the world (the caller's in every state, another provider's, a draft), a missing id, and ids no
    record can have, by variable and as a literal: the same answer, by the compiled statement where it may."""
    ids: list[Any] = [*paths.task_ids, 987654, "987654", "2147483648", "abc", " 1", ""]
    for task_id in ids:
        literal = "{ task(id: " + orjson.dumps(task_id).decode() + ") {" + TASK_EVERY_FIELD + "} }"
        for document, variables in ((ONE_TASK_BY_VARIABLE, {"id": task_id}), (literal, {})):
            answered = paths.compiled_reads.answered
            by_resolvers = await _ask(paths.resolvers, paths.tokens[role], document, variables)
            compiled = await _ask(paths.compiled, paths.tokens[role], document, variables)
            assert compiled.status_code == by_resolvers.status_code, (task_id, compiled.text)
            assert _canonical(compiled.json()) == _canonical(by_resolvers.json()), (role, task_id)
            regular = str(task_id).isdigit() and int(task_id) < 2**31
            assert paths.compiled_reads.answered == answered + regular, (role, task_id)
    # Nothing vacuous was compared: the provider sees its victim; the Hub its own task, without that view.
    first = {"id": str(paths.task_ids[0])}
    mine = await _ask(paths.compiled, paths.tokens["cpn"], ONE_TASK_BY_VARIABLE, first)
    assert mine.json()["data"]["task"]["victim"]["givenName"] == "Alex"
    hubs = await _ask(paths.compiled, paths.tokens[HUB_TASK_READER], ONE_TASK_BY_VARIABLE, first)
    assert hubs.json()["data"]["task"]["id"] == first["id"] and hubs.json()["data"]["task"]["victim"] is None


OVERDUE = (
    "query Overdue($first: Int!, $after: String) { overdueTasks(first: $first, after: $after) "
    "{ __typename nextCursor items {" + TASK_EVERY_FIELD + "} } }"
)


@pytest.mark.parametrize("role", ["cpn", "family-action", HUB_TASK_READER])
async def test_overdue_tasks_are_the_same_on_both_paths(paths: Paths, role: str) -> None:
    """The overdue page: a provider's own, and the Hub's across its referrals (its tasks without the provider's
    view of the victim), page by page through the cursor."""
    shown: list[str] = []
    for first in (1, 100):
        variables: dict[str, Any] = {"first": first, "after": None}
        while True:
            answered = paths.compiled_reads.answered
            by_resolvers = await _ask(paths.resolvers, paths.tokens[role], OVERDUE, variables)
            compiled = await _ask(paths.compiled, paths.tokens[role], OVERDUE, variables)
            assert _canonical(compiled.json()) == _canonical(by_resolvers.json()), (role, variables)
            assert paths.compiled_reads.answered == answered + 1
            page = compiled.json()["data"]["overdueTasks"]
            shown += [item["id"] for item in page["items"]]
            if page["nextCursor"] is None:
                break
            variables = {"first": first, "after": page["nextCursor"]}
    if role in ("cpn", HUB_TASK_READER):
        assert shown  # the two late tasks of cpn, which the Hub also owns


async def test_compiled_reads_queue_for_the_configured_connections_and_no_more(paths: Paths) -> None:
    # Given a server whose compiled reads may hold two connections (GATEWAY_COMPILED_POOL_SIZE)
    app = create_app(paths.settings.model_copy(update={"compiled_pool_size": 2}))
    compiled_reads = app.state.compiled_reads
    assert isinstance(compiled_reads, CompiledReads)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as http:
            # When twelve provider inbox reads arrive at once
            answers = await asyncio.gather(*(_ask(http, paths.tokens["cpn"], INBOX, {}) for _ in range(12)))

        # Then every one is answered by the compiled statement, queued for the two connections, never a third
        assert [answer.status_code for answer in answers] == [200] * 12
        assert len({answer.content for answer in answers}) == 1 and b'"errors"' not in answers[0].content
        assert compiled_reads.answered == 12
        assert compiled_reads.connections_open == 2
    finally:
        await compiled_reads.close()
