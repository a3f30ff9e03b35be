"""The fuzz family: generated queries and mutations never meet a server error.

hypothesis-graphql writes documents over every root field of the live schema (read from `build_schema()`,
so a field added tomorrow is fuzzed tomorrow), with generated arguments and selections. Each is sent through the
in-process ASGI app with a real token as the Hub, a provider (cpn), the Commissioner and the RJ hub's co-ordinator,
after the Hub has sent a task to cpn and one to the RJ hub, which opened an RJ case from it, so generated ids name
real records as well as missing, huge and malformed ones. Whatever the document, the answer is a response below
500 whose errors are the caller's (not found, refused, invalid): never `Unexpected error.`, which means a resolver
raised something nobody expected.

The run is reproducible (derandomized, no example database) and bounded (QUERY_EXAMPLES and MUTATION_EXAMPLES per
role), on both databases, on the gateway's production executor (fast execution) only: the executors share every
resolver and service, and tests/graphql/test_execution.py already holds them to the same answers.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from gateway.auth import service as auth
from gateway.db import create_engine, create_session_factory
from gateway.graphql.surface import UNEXPECTED_ERROR_MESSAGE
from gateway.schema import build_schema
from gateway.settings import Settings
from tests.support.api import (
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    key,
    make_settings,
    sent_task,
    world,
)

# The API world's fixtures, bound for this module's tests.
__all__ = ["api_templates", "client", "database_url", "gateway", "world"]

# Per role: about four single-field documents for each of the 16 query and 40 mutation root fields (three in five
# documents), besides those of many fields and the invalid ones; about a minute a database. Raise them for a
# longer hunt; CI keeps these.
QUERY_EXAMPLES = 100
MUTATION_EXAMPLES = 250
RJ_COORDINATOR = "rj-coordinator"
# The Hub, a provider, the Commissioner, and the RJ co-ordinator, without whom the RJ mutations are all refused.
ROLES = ("hub", "cpn", "commissioner", RJ_COORDINATOR)
ACCEPT = """mutation($i: TaskChangeInput!) { acceptTask(input: $i) { __typename } }"""
FROM_TASK = """mutation($i: CreateRjCaseFromTaskInput!) {
  createRjCaseFromTask(input: $i) { __typename ... on RjCasePayload { case { id } } } }"""
# Ids too large for a 32-bit column, zero, negative, and not numbers at all: each must be not-found or invalid.
HOSTILE_IDS = ("0", "-1", "2147483648", str(2**63), "9" * 25, "1e3", "1.5", " 1", "abc", "", "²")


@pytest.fixture(name="settings")
def production_executor(database_url: str) -> Settings:
    """One executor: the production path (see the module's docstring)."""
    return make_settings(database_url, fast_execution=True)


@dataclass(frozen=True)
class Seeded:
    """Real records for generated ID arguments, and a token for each role that fuzzes."""

    ids: tuple[str, ...]
    tokens: dict[str, str] = field(repr=False)  # kept out of failure reports


async def _post(gateway: Gateway, token: str, document: str, variables: dict[str, Any] | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"}
    return await gateway.http.post("/graphql", json={"query": document, "variables": variables or {}}, headers=headers)


async def _coordinator_token(gateway: Gateway) -> str:
    """The RJ hub's co-ordinator: the one caller that reaches the RJ case mutations (rj:manage)."""
    engine = create_engine(gateway.world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            created = await auth.add_client(
                db=db, organisation_slug="rj-hub", name=RJ_COORDINATOR, scopes="tasks:read tasks:write rj:manage"
            )
    finally:
        await engine.dispose()
    assert created.secret is not None
    response = await gateway.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(created.client.client_id, created.secret)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
async def seeded(gateway: Gateway) -> Seeded:
    """A referral sent to cpn, and one sent to the RJ hub, accepted and opened as an RJ case."""
    cpn = await sent_task(gateway, "cpn")
    rj_task = await sent_task(gateway, "rj-hub", needs=["restorative-justice-interest"])
    change = {"taskId": rj_task.task_id, "expectedVersion": rj_task.version, "idempotencyKey": key()}
    accepted = await gateway.gql("rj-hub", ACCEPT, {"i": change})
    assert accepted["data"]["acceptTask"]["__typename"] == "TaskPayload", accepted
    tokens = {role: await gateway.token(role) for role in ROLES if role != RJ_COORDINATOR}
    tokens[RJ_COORDINATOR] = await _coordinator_token(gateway)
    opened = await _post(
        gateway, tokens[RJ_COORDINATOR], FROM_TASK, {"i": {"taskId": rj_task.task_id, "idempotencyKey": key()}}
    )
    case = opened.json()["data"]["createRjCaseFromTask"]
    assert case["__typename"] == "RjCasePayload", case
    ids = (cpn.referral_id, cpn.task_id, cpn.consent_id, rj_task.referral_id, rj_task.task_id, case["case"]["id"])
    return Seeded(ids=ids, tokens=tokens)


@dataclass
class Tally:
    """What the generated operations met: how many were sent, how many got data, and their errors' codes."""

    sent: int = 0
    answered: int = 0
    codes: Counter[str] = field(default_factory=Counter)

    def add(self, body: object) -> None:
        self.sent += 1
        if not isinstance(body, dict):
            return
        self.answered += body.get("data") is not None
        for error in body.get("errors") or []:
            self.codes[str((error.get("extensions") or {}).get("code", "no-code"))] += 1


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    counts = Tally()
    yield counts
    # The count of generated operations, for the run's record (shown with -s or -rP).
    print(
        f"\nfuzz {request.node.name}: {counts.sent} operations, {counts.answered} with data, "
        f"error codes {dict(counts.codes.most_common())}"
    )


def _int_node(digits: str) -> graphql.ValueNode:
    return graphql.IntValueNode(value=digits)


def _id_values(known: tuple[str, ...]) -> st.SearchStrategy[graphql.ValueNode]:
    """Real ids, as strings and as integer literals, as often as small, huge, negative and malformed ones."""
    real = st.sampled_from(known)
    return st.one_of(
        real.map(nodes.String),
        real.filter(str.isdecimal).map(_int_node),
        st.sampled_from(HOSTILE_IDS).map(nodes.String),
        st.integers(min_value=-(10**30), max_value=10**30).map(str).map(_int_node),
        (st.integers(-5, 50).map(str) | st.text(max_size=12)).map(nodes.String),
    )


def _dates() -> st.SearchStrategy[graphql.ValueNode]:
    valid = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)).map(dt.date.isoformat)
    return (valid | st.sampled_from(["", "2026-02-30", "0001-01-01", "9999-12-31", "yesterday"])).map(nodes.String)


def _datetimes() -> st.SearchStrategy[graphql.ValueNode]:
    moments = st.datetimes(
        # Hypothesis takes naive bounds and adds the zone (none, or UTC) itself.
        min_value=dt.datetime(1900, 1, 1),  # noqa: DTZ001
        max_value=dt.datetime(2100, 12, 31),  # noqa: DTZ001
        timezones=st.sampled_from([None, dt.UTC]),
    ).map(dt.datetime.isoformat)
    odd = st.sampled_from(["", "2026-11-20", "2026-11-20T25:00:00Z", "0001-01-01T00:00:00+00:00", "now"])
    return (moments | odd).map(nodes.String)


@functools.cache
def _documents(kind: str, known: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Documents of one root field each (so a forbidden sibling does not hide the rest), of many, and invalid ones."""
    schema = graphql.build_schema(build_schema().as_str())  # the schema as the gateway serves it today
    root = schema.query_type if kind == "query" else schema.mutation_type
    assert root is not None
    scalars = {"ID": _id_values(known), "Date": _dates(), "DateTime": _datetimes()}
    generate = queries if kind == "query" else mutations
    one_field = st.one_of(
        *(generate(schema, fields=[name], custom_scalars=scalars, allow_x00=False) for name in root.fields)
    )
    many_fields = generate(schema, custom_scalars=scalars, allow_x00=False)
    # One schema violation each (a wrong type, a missing argument): the validator's answer, never a resolver's.
    invalid = generate(schema, custom_scalars=scalars, allow_x00=False, mode=Mode.NEGATIVE)
    return st.one_of(one_field, one_field, one_field, many_fields, invalid)


def _unexpected(body: object) -> list[dict[str, object]]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return [error for error in errors or [] if error.get("message") == UNEXPECTED_ERROR_MESSAGE]


# One seeded world per case, shared by its examples on purpose (the function-scoped fixtures); a seed fixed by the
# test's source, and no example database, so a run is the same wherever it runs.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


async def _send_one(gateway: Gateway, token: str, document: str, tally: Tally) -> None:
    response = await _post(gateway, token, document)

    assert response.status_code < 500, f"{document}\n{response.text}"
    body = response.json()
    tally.add(body)
    assert not _unexpected(body), f"{document}\n{response.text}"


@pytest.mark.parametrize("role", ROLES)
@settings(FUZZ, max_examples=QUERY_EXAMPLES)
@given(data=st.data())
async def test_generated_queries_meet_no_server_error(
    gateway: Gateway, seeded: Seeded, tally: Tally, role: str, data: st.DataObject
) -> None:
    document = data.draw(_documents("query", seeded.ids), label="document")
    await _send_one(gateway, seeded.tokens[role], document, tally)


@pytest.mark.parametrize("role", ROLES)
@settings(FUZZ, max_examples=MUTATION_EXAMPLES)
@given(data=st.data())
async def test_generated_mutations_meet_no_server_error(
    gateway: Gateway, seeded: Seeded, tally: Tally, role: str, data: st.DataObject
) -> None:
    document = data.draw(_documents("mutation", seeded.ids), label="document")
    await _send_one(gateway, seeded.tokens[role], document, tally)
