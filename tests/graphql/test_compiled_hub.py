"""The Hub's compiled `referrals` and `referral(id:)` against the resolver path: the same JSON, the same audit rows.

Two apps on one PostgreSQL database, one with compiled reads and one without, answer the same generated documents
(hypothesis) for callers of every kind: the Hub's client and supervisor's client, a signed-in co-ordinator, another
organisation's reader of referrals, and providers and the Commissioner, who may not read referrals at all. The
referrals cover: consent valid, withdrawn, and with a second consent recorded; a task under a safeguarding override;
a task entered in error; a child with a guardian; several tasks in different states (draft, requested, accepted,
with contact attempts, overdue); another organisation's referral; a referral whose victim record is not the Hub's;
and ids no referral has. Each answer must be the same JSON, byte for byte once keys are sorted, must have written the
same consultation rows, and the compiled path must really have answered the requests it should.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.graphql.compiled import CompiledReads
from gateway.graphql.pagination import encode_cursor
from gateway.referrals.compiled.common import TASK_LEAVES
from gateway.referrals.compiled.hub import (
    CASE_LEAVES,
    CASE_PRIORITY_LEAVES,
    CONSENT_RECORD_LEAVES,
    HUB_GUARDIAN_LEAVES,
    HUB_SAFE_CONTACT_LEAVES,
    HUB_VICTIM_LEAVES,
    REFERRAL_LEAVES,
)
from tests.graphql.compiled_hub_world import (
    Paths,
    Relay,
    add,
    ask,
    audit_rows,
    build_world,
    canonical,
    client_token,
    person_token,
    sql,
)
from tests.support.api import (
    ISSUER,
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    world,
)
from tests.support.compiled import COMPARE, compiled_settings, database_kind

__all__ = ["api_templates", "client", "compiled_settings", "database_kind", "database_url", "gateway", "world"]

# Callers that hold referrals:read (the compiled path answers them) and callers that do not (the resolvers refuse).
READERS = ("hub", "hub-supervisor", "coordinator", "rj-reader")
OTHERS = ("cpn", "commissioner")


@pytest.fixture
async def paths(gateway: Gateway, client: httpx.AsyncClient, app: Starlette) -> AsyncIterator[Paths]:
    ids = await build_world(gateway)
    settings_ = gateway.world.settings
    tokens = {role: await gateway.token(role) for role in ("hub", "hub-supervisor", *OTHERS)}
    rj_reader = await add(settings_, organisation_slug="rj-hub", name="rj reader", scopes="referrals:read")
    tokens["rj-reader"] = await client_token(client, rj_reader.client.client_id, rj_reader.secret)
    tokens["coordinator"] = await person_token(
        client, settings_, email="coordinator@hub.test", roles=["hub-coordinator"], scope="referrals:read"
    )
    resolver_app = create_app(settings_.model_copy(update={"compiled_reads": False}))
    assert resolver_app.state.compiled_reads is None
    compiled_reads = app.state.compiled_reads
    assert isinstance(compiled_reads, CompiledReads)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=resolver_app), base_url=ISSUER) as resolvers:
            cursors = tuple(encode_cursor(i) for i in (ids[0], ids[3], ids[-1]))
            all_ids = (*ids, ids[-1] + 1000)
            yield Paths(client, resolvers, compiled_reads, settings_, tokens, all_ids, cursors)
    finally:
        await resolver_app.state.engine.dispose()


# -- generated documents -----------------------------------------------------------------------------------------


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


REFERRAL = _selection(
    sorted(REFERRAL_LEAVES),
    {
        "tasks": _leaves(TASK_LEAVES),
        "case": _selection(sorted(CASE_LEAVES), {"priorityFlags": _leaves(CASE_PRIORITY_LEAVES)}),
        "victim": _selection(
            sorted(HUB_VICTIM_LEAVES),
            {"guardian": _leaves(HUB_GUARDIAN_LEAVES), "safeContact": _leaves(HUB_SAFE_CONTACT_LEAVES)},
        ),
        "consents": _leaves(CONSENT_RECORD_LEAVES),
    },
)


@st.composite
def _document(draw: st.DrawFn, ids: tuple[int, ...], cursors: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """`referrals` or `referral(id:)`, each argument absent, a literal or a variable; now and then with a field
    (intakeItem) the compiler leaves to the resolvers."""
    selection = draw(REFERRAL)
    if draw(st.integers(0, 9)) == 0:
        selection = selection[:-1] + "intakeItem { id } }"
    if draw(st.booleans()):
        referral_id = draw(st.sampled_from(ids))
        if draw(st.booleans()):
            return "query One($id: ID!) { referral(id: $id) " + selection + " }", {"id": str(referral_id)}
        return "{ referral(id: " + orjson.dumps(str(referral_id)).decode() + ") " + selection + " }", {}
    values: dict[str, Any] = {}
    if draw(st.booleans()):
        values["first"] = draw(st.sampled_from([1, 2, 3, 20, 100]))
    if draw(st.integers(0, 2)) == 0:
        values["after"] = draw(st.sampled_from(cursors))
    types = {"first": "Int!", "after": "String"}
    declared, arguments, variables = [], [], {}
    for name, value in values.items():
        if draw(st.booleans()):
            declared.append(f"${name}: {types[name]}")
            arguments.append(f"{name}: ${name}")
            variables[name] = value
        else:
            arguments.append(f"{name}: {orjson.dumps(value).decode()}")
    page = draw(_selection(["nextCursor"], {"items": st.just(selection)}))
    signature = f"query Referrals({', '.join(declared)})" if declared else "query"
    call = f"referrals({', '.join(arguments)})" if arguments else "referrals"
    return f"{signature} {{ {call} {page} }}", variables


# -- comparing ---------------------------------------------------------------------------------------------------


async def _both(paths: Paths, role: str, document: str, variables: dict[str, Any]) -> tuple[httpx.Response, int]:
    """Ask the resolvers, then the compiled app; check the answers and the audit rows agree; the compiled answer and
    how many requests the compiled statement answered (0 or 1)."""
    before, _ = await audit_rows(paths.settings, 0)
    answered = paths.compiled_reads.answered
    by_resolvers = await ask(paths.resolvers, paths.tokens[role], document, variables)
    middle, resolver_rows = await audit_rows(paths.settings, before)
    compiled = await ask(paths.compiled, paths.tokens[role], document, variables)
    _, compiled_rows = await audit_rows(paths.settings, middle)
    assert compiled.status_code == by_resolvers.status_code, (document, compiled.text, by_resolvers.text)
    assert canonical(compiled.json()) == canonical(by_resolvers.json()), (role, document, variables)
    assert compiled_rows == resolver_rows, (role, document, variables)
    return compiled, paths.compiled_reads.answered - answered


@settings(COMPARE)
@given(data=st.data())
async def test_the_compiled_hub_reads_answer_as_the_resolvers_do(paths: Paths, data: st.DataObject) -> None:
    role = data.draw(st.sampled_from((*READERS, *OTHERS, "hub", "hub")), label="role")
    document, variables = data.draw(_document(paths.referral_ids, paths.cursors), label="document")
    compiled, answered = await _both(paths, role, document, variables)
    # The compiled path answers every document the resolvers answer without error for a reader of referrals, but
    # for one selecting a field it leaves to them; the others are the resolvers' to refuse, as ever.
    expected = role in READERS and "errors" not in compiled.json() and "intakeItem" not in document
    assert answered == expected, f"the wrong path answered {document}"


EVERY_FIELD = """{{
  __typename {} tasks {{ __typename {} }} case {{ __typename {} priorityFlags {{ __typename {} }} }}
  victim {{ __typename {} guardian {{ __typename {} }} safeContact {{ __typename {} }} }}
  consents {{ __typename {} }}
}}""".format(
    " ".join(REFERRAL_LEAVES),
    " ".join(TASK_LEAVES),
    " ".join(CASE_LEAVES),
    " ".join(CASE_PRIORITY_LEAVES),
    " ".join(HUB_VICTIM_LEAVES),
    " ".join(HUB_GUARDIAN_LEAVES),
    " ".join(HUB_SAFE_CONTACT_LEAVES),
    " ".join(CONSENT_RECORD_LEAVES),
)
# Literal page sizes: with a variable the cost limit reckons the largest page, which this selection exceeds.
EVERY_REFERRAL = (
    "{{ referrals{} {{ __typename nextCursor items " + EVERY_FIELD.replace("{", "{{").replace("}", "}}") + " }} }}"
)
ONE_REFERRAL = "query One($id: ID!) { referral(id: $id) " + EVERY_FIELD + " }"


@pytest.mark.parametrize("role", [*READERS, *OTHERS])
async def test_every_field_of_every_referral_is_the_same_on_both_paths(paths: Paths, role: str) -> None:
    for page in ("(first: 20)", "(first: 3)", f'(first: 3, after: "{paths.cursors[1]}")', ""):
        _, answered = await _both(paths, role, EVERY_REFERRAL.format(page), {})
        assert answered == (role in READERS)
    for referral_id in paths.referral_ids:
        _, answered = await _both(paths, role, ONE_REFERRAL, {"id": str(referral_id)})
        assert answered == (role in READERS)
    if role == "hub":
        # Nothing vacuous was compared: the Hub's page holds its referrals with their victims and consents.
        page = (await ask(paths.compiled, paths.tokens[role], EVERY_REFERRAL.format("(first: 20)"), {})).json()
        items = page["data"]["referrals"]["items"]
        assert len(items) == len(paths.referral_ids) - 2  # all but another organisation's and the missing id
        assert any(item["victim"] is None for item in items)  # the victim record another organisation holds
        assert any(item["victim"] and item["victim"]["guardian"] for item in items)
        assert any(len(item["consents"]) == 2 for item in items)
        assert any(len(item["tasks"]) == 3 for item in items)
    if role == "rj-reader":
        page = (await ask(paths.compiled, paths.tokens[role], EVERY_REFERRAL.format("(first: 20)"), {})).json()
        assert len(page["data"]["referrals"]["items"]) == 1


ODD_REQUESTS: tuple[tuple[str, dict[str, Any], str | None], ...] = (
    ("query($f: Int!) { referrals(first: $f) { nextCursor } }", {}, None),
    ("query($f: Int!) { referrals(first: $f) { nextCursor } }", {"f": None}, None),
    ("query($f: Int) { referrals(first: $f) { nextCursor } }", {"f": None}, None),
    ("query($f: Int) { referrals(first: $f) { items { id } } }", {}, None),
    ("query($f: Int!) { referrals(first: $f) { nextCursor } }", {"f": "7"}, None),
    ("query($f: Int!) { referrals(first: $f) { nextCursor } }", {"f": 0}, None),
    ("query($f: Int!) { referrals(first: $f) { nextCursor } }", {"f": -1}, None),
    ("query($f: Int!) { referrals(first: $f) { nextCursor } }", {"f": 101}, None),
    ("query($f: Int!) { referrals(first: $f) { nextCursor } }", {"f": 2**40}, None),
    ("{ referrals(first: 0) { nextCursor } }", {}, None),
    ("{ referrals(first: 1000) { nextCursor } }", {}, None),
    ("{ referrals(first: null) { nextCursor } }", {}, None),
    ('{ referrals(after: "nope") { nextCursor } }', {}, None),
    ("query($a: String) { referrals(after: $a) { nextCursor } }", {"a": "not-ours"}, None),
    ("query($a: String) { referrals(after: $a) { nextCursor } }", {"a": encode_cursor(2**63)}, None),
    ("query($a: String) { referrals(after: $a) { nextCursor } }", {"a": 12}, None),
    ("query($a: String) { referrals(after: $a) { items { id } } }", {"a": None}, None),
    ("query($f: Int!, $unused: Int) { referrals(first: $f) { nextCursor } }", {"f": 2}, None),
    ("query($f: Int!) { referrals(first: $f) { nextCursor } }", {"f": 2, "extra": 1}, None),
    ("query($id: ID!) { referral(id: $id) { id } }", {}, None),
    ("query($id: ID!) { referral(id: $id) { id } }", {"id": None}, None),
    ("query($id: ID) { referral(id: $id) { id } }", {"id": None}, None),
    ("query($id: ID!) { referral(id: $id) { id } }", {"id": "abc"}, None),
    ("query($id: ID!) { referral(id: $id) { id } }", {"id": " 1"}, None),
    ("query($id: ID!) { referral(id: $id) { id } }", {"id": "2147483648"}, None),
    ("query($id: ID!) { referral(id: $id) { id } }", {"id": 1.5}, None),
    ("query($id: ID!) { referral(id: $id) { id } }", {"id": ["1"]}, None),
    ("{ referral(id: null) { id } }", {}, None),
    ("{ referral(id: 1) { id } }", {}, None),
    ("{ referral { id } }", {}, None),
    ("query A { referrals { nextCursor } } query B { referral(id: 1) { id } }", {}, "B"),
    ("query A { referrals { nextCursor } } query B { referral(id: 1) { id } }", {}, None),
    ("{ referrals { items { id } } referrals { items { id } } }", {}, None),
    ("{ referrals { items { id ... on Referral { reference } } } }", {}, None),
    ("{ referrals { items { id @skip(if: true) reference } } }", {}, None),
    ("{ referrals { items { tasks { id victim { givenName } } } } }", {}, None),
    ("{ referrals { items { tasks { contactAttempts { id } } } } }", {}, None),
    ("{ referrals { items { victim { nope } } } }", {}, None),
    ("{ referrals(first: 2) { items { victim { givenName } } } }", {"s": "text\u0000with NUL"}, None),
)


@pytest.mark.parametrize("role", ["hub", "cpn"])
async def test_odd_requests_get_the_same_answer_on_both_paths(paths: Paths, role: str) -> None:
    for document, variables, operation_name in ODD_REQUESTS:
        body = {"query": document, "variables": variables, "operationName": operation_name}
        headers = {"authorization": f"Bearer {paths.tokens[role]}"}
        by_resolvers = await paths.resolvers.post("/graphql", json=body, headers=headers)
        compiled = await paths.compiled.post("/graphql", json=body, headers=headers)
        assert compiled.status_code == by_resolvers.status_code, document
        assert canonical(compiled.json()) == canonical(by_resolvers.json()), (document, variables)


# -- the token's state, and the database going away ---------------------------------------------------------------

READ = "{ referrals(first: 5) { items { id victim { givenName } consents { id } case { crimeCategory } } } }"


@pytest.mark.parametrize(
    "withdraw",
    [
        "UPDATE users SET roles = '[\"data-protection-officer\"]' WHERE email = 'coordinator@hub.test'",
        "UPDATE users SET active = false WHERE email = 'coordinator@hub.test'",
    ],
)
async def test_a_person_whose_role_goes_gets_no_data_on_the_very_next_compiled_read(
    paths: Paths, withdraw: str
) -> None:
    token = paths.tokens["coordinator"]
    answered = paths.compiled_reads.answered
    first = await ask(paths.compiled, token, READ, {})
    assert first.status_code == 200 and first.json()["data"]["referrals"]["items"]
    assert paths.compiled_reads.answered == answered + 1
    before, _ = await audit_rows(paths.settings, 0)

    await sql(paths.settings, withdraw)

    refused = await ask(paths.compiled, token, READ, {})
    after, logged = await audit_rows(paths.settings, before)
    assert paths.compiled_reads.answered == answered + 1  # the compiled statement did not answer it
    assert "Alex" not in refused.text and (refused.json().get("data") or {}).get("referrals") is None
    assert after == before and not logged  # nothing was read, so nothing was logged
    # The resolvers give the very same refusal.
    by_resolvers = await ask(paths.resolvers, token, READ, {})
    assert (refused.status_code, canonical(refused.json())) == (
        by_resolvers.status_code,
        canonical(by_resolvers.json()),
    )


async def test_while_postgresql_is_unreachable_a_compiled_read_answers_503_and_then_recovers(
    paths: Paths, app: Starlette
) -> None:
    # Given the compiled path's pool reaching PostgreSQL through a relay, and a read it answered
    database = make_url(paths.settings.database_url)
    relay = Relay(database.host or "127.0.0.1", database.port or 5432)
    await relay.start()
    await paths.compiled_reads.close()
    paths.compiled_reads._dsn = database.set(drivername="postgresql", port=relay.port).render_as_string(
        hide_password=False
    )
    token = paths.tokens["hub"]
    answered = paths.compiled_reads.answered
    working = await ask(paths.compiled, token, READ, {})
    assert working.status_code == 200 and paths.compiled_reads.answered == answered + 1
    before, _ = await audit_rows(paths.settings, 0)

    # When PostgreSQL goes away, with the pool's connection open
    await relay.stop()
    # (the server's error handler answers; the test's transport would otherwise re-raise the error to the test)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        down = [await ask(http, token, READ, {}) for _ in range(2)]

    # Then each read is told to retry, in the gateway's stable shape, with no personal data, and nothing is logged
    for answer in down:
        assert (answer.status_code, answer.headers["content-type"]) == (503, "application/json"), answer.text
        assert answer.json() == {
            "error": "service-unavailable",
            "message": "The service is unavailable; try again shortly.",
        }
        assert answer.headers["retry-after"] == "5" and answer.headers["cache-control"] == "no-store"
    after, logged = await audit_rows(paths.settings, before)
    assert after == before and not logged
    # And once it is back, the next read is answered by the compiled statement again, as before
    await relay.start()
    try:
        back = await ask(paths.compiled, token, READ, {})
        assert back.status_code == 200 and canonical(back.json()) == canonical(working.json())
        assert paths.compiled_reads.answered == answered + 2
    finally:
        await paths.compiled_reads.close()
        await relay.stop()
