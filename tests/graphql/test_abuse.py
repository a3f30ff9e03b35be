"""The GraphQL abuse family: every hostile request is refused within a second and before any resolver runs.

Each request goes over loopback to the production gateway, served by uvicorn, with the token of a caller who may
read victims' data, after a task has been sent to that caller, so a resolver that ran would query the database and
append an audit row. The control request shows both happen for an ordinary read; for every abusive one, neither
may. Every case runs on both databases and both executors.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import event, func
from sqlmodel import select

from gateway.app import create_app
from gateway.audit.models import AuditEntry
from gateway.db import create_engine, create_session_factory
from gateway.settings import Environment, Settings
from tests.support.api import (
    ISSUER,
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    referral_input,
    sent_task,
    settings,
    world,
)
from tests.support.loopback import served

# The API world's fixtures, bound for this module's tests.
__all__ = ["api_templates", "client", "database_url", "gateway", "settings", "world"]

TIME_BUDGET_SECONDS = 1.0
CLIENT_TIMEOUT_SECONDS = 5.0
VICTIM = "victim { givenName phone }"


def _fan_out(levels: int, leaf: str) -> str:
    """Fragments each spreading the one before twice: 2^(levels-1) copies of `leaf` once expanded."""
    fragments = [f"fragment F0 on Task {{ {leaf} }}"]
    fragments += [f"fragment F{i} on Task {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels)]
    return f"{{ inbox {{ items {{ ...F{levels - 1} }} }} }} " + " ".join(fragments)


def _nested(levels: int) -> str:
    return "{ inbox { items { victim { safeContact { " + "a { " * levels + "b" + " }" * levels + " } } } } }"


@dataclass(frozen=True)
class Case:
    """One hostile request and a fragment of the refusal it must get."""

    name: str
    refusal: str
    query: str | None = None
    variables: dict[str, Any] | None = None
    role: str | None = "cpn"
    status: int = 200
    method: str = "POST"
    content_type: str = "application/json"
    body: bytes | None = None  # sent as is instead of the query and variables
    extra_headers: dict[str, str] = field(default_factory=dict)


MONITORING_12 = 'monitoring(firstPeriod: "2024-Q1", lastPeriod: "2026-Q4") { rows { providerSlug } }'
# A referral the Hub could create, but for the NUL in the victim's name (PostgreSQL cannot store it).
REFERRAL_WITH_NUL = referral_input(providers=["cpn"])
REFERRAL_WITH_NUL["victim"]["givenName"] = "Al\x00ex"
GRAPHQL_CASES = [
    Case("fragment fan-out, 30 levels", "too expensive", _fan_out(30, VICTIM)),
    Case("fragment fan-out, 60 levels", "too expensive", _fan_out(60, VICTIM)),
    Case("fragment fan-out of aliases", "aliases found", _fan_out(30, f"a: {VICTIM}")),
    Case(
        "fragment cycle",
        "within itself",
        "{ inbox { items { ...A } } } fragment A on Task { id ...B } fragment B on Task { " + VICTIM + " ...A }",
    ),
    Case("fragment spreading itself", "within itself", "{ inbox { items { ...A } } } fragment A on Task { id ...A }"),
    Case("unknown fragment", "Unknown fragment 'Nope'.", "{ inbox { items { ...Nope } } }"),
    Case("depth 7", "exceeds maximum operation depth of 6", _nested(3)),
    Case("nesting 150 deep", "exceeds maximum operation depth of 6", _nested(150)),
    Case(
        "inline fragments 150 deep",
        "exceeds maximum operation depth",
        "{" + "... on Query {" * 150 + "inbox { nextCursor }" + "}" * 151,
    ),
    Case(
        "16 aliases", "16 aliases found", "{ " + " ".join(f"a{i}: inbox {{ items {{ id }} }}" for i in range(16)) + " }"
    ),
    Case("one field 40 times", "selected 40 times", "{ inbox { items { " + " ".join([VICTIM] * 40) + " } } }"),
    Case("one leaf 900 times", "selected 900 times", "{ inbox { items { " + " ".join(["id"] * 900) + " } } }"),
    Case("directive flood", "more than 1000 tokens", "{ inbox { items { id" + " @include(if: true)" * 300 + " } } }"),
    Case("a directive repeated", "can only be used once", "{ inbox @skip(if: false) @skip(if: false) { nextCursor } }"),
    Case(
        "a list literal of 100,000 items",
        "more than 1000 tokens",
        "{ inbox(status: [" + "1," * 100_000 + "]) { nextCursor } }",
    ),
    Case(
        "a list of 100,000 items in the variables",
        "more than 100 items",
        "query($s: [TaskStatus!]) { inbox(status: $s) { items { " + VICTIM + " } } }",
        {"s": [1] * 100_000},
    ),
    Case(
        "fifteen twelve-quarter reports",
        "too expensive",
        "{ " + " ".join(f"m{i}: {MONITORING_12}" for i in range(15)) + " }",
        role="commissioner",
    ),
    Case(
        "nested lists without a page size",
        "too expensive",
        "{ referrals(first: 100) { items { tasks { contactAttempts { id method result attemptedAt } } } } }",
        role="hub",
    ),
    Case("introspection of the schema", "introspection has been disabled", "{ __schema { types { name } } }"),
    Case("introspection of a type", "introspection has been disabled", '{ __type(name: "Task") { name } }'),
    Case("NUL in a string literal", "NUL character", '{ inbox(status: ["requested\\u0000"]) { items { id } } }'),
    Case(
        "NUL in the variables",
        "NUL character",
        "mutation($input: CreateReferralInput!) { createReferral(input: $input) { __typename } }",
        {"input": REFERRAL_WITH_NUL},
        role="hub",
    ),
    Case("a misspelt field", "Cannot query field 'givenNam'", "{ inbox { items { victim { givenNam } } } }"),
    Case("a misspelt argument", "Unknown argument 'frist'", "{ inbox(frist: 5) { items { id } } }"),
    Case("a misspelt type", "Unknown type 'Strin'", "query($s: [Strin!]) { inbox(status: $s) { items { id } } }"),
    Case(
        "a misspelt input field in a literal",
        "unknown field 'taskid'",
        'mutation { acceptTask(input: {taskId: "1", taskid: "1", expectedVersion: 1, idempotencyKey: "k"}) '
        "{ __typename } }",
    ),
    Case(
        "a misspelt input field in the variables",
        "unknown field 'taskid'",
        "mutation($i: TaskChangeInput!) { acceptTask(input: $i) { __typename } }",
        {"i": {"taskId": "1", "expectedVersion": 1, "idempotencyKey": "k", "taskid": "1"}},
    ),
    Case("a misspelt directive argument", "Unknown argument 'iff'", "{ inbox @skip(iff: true) { nextCursor } }"),
]
QUERY = b'{"query": "{ inbox { items { id } } }"}'
HTTP_CASES = [
    Case(
        "a batch",
        "batches are not accepted",
        body=orjson.dumps([{"query": "{ inbox { items { id } } }"}] * 2),
        status=400,
    ),
    Case("an empty batch", "batches are not accepted", body=b"[]", status=400),
    Case("a body of true", "must be a JSON object", body=b"true", status=400),
    Case("a body of null", "must be a JSON object", body=b"null", status=400),
    Case("a body of 123", "must be a JSON object", body=b"123", status=400),
    Case("a body of a string", "must be a JSON object", body=b'"{ inbox { items { id } } }"', status=400),
    Case("malformed JSON", "Unable to parse", body=b'{"query": ', status=400),
    Case("a query that is not text", "must be a string", body=b'{"query": 1}', status=400),
    Case(
        "an operationName that is not text",
        "must be a string",
        body=b'{"query": "{ inbox { nextCursor } }", "operationName": 1}',
        status=400,
    ),
    Case(
        "variables that are not an object",
        "must be an object",
        body=b'{"query": "{ inbox { nextCursor } }", "variables": [1]}',
        status=400,
    ),
    Case("GET", "POST", method="GET", body=b"", status=405),
    Case("PUT", "POST", method="PUT", body=QUERY, status=405),
    Case("DELETE", "POST", method="DELETE", body=b"", status=405),
    Case("PATCH", "POST", method="PATCH", body=QUERY, status=405),
    Case(
        "a form",
        "application/json",
        content_type="application/x-www-form-urlencoded",
        body=b"query=%7Binbox%7D",
        status=415,
    ),
    Case("plain text", "application/json", content_type="text/plain", body=QUERY, status=415),
    Case("multipart", "application/json", content_type="multipart/form-data; boundary=x", body=b"--x--", status=415),
    Case(
        "JSON with a charset is still JSON, but a batch",
        "batches",
        content_type="application/json; charset=utf-8",
        body=b"[]",
        status=400,
    ),
    Case(
        "an oversized body",
        "too large",
        body=b'{"query": "' + b" " * 300_000 + b'{ inbox { nextCursor } }"}',
        status=413,
    ),
]


@pytest.fixture
def production(settings: Settings) -> Iterator[tuple[str, list[str]]]:
    """The gateway as deployed (introspection and suggestions off) served on loopback over the API world's
    database, and the SQL it runs apart from the token check every authenticated request makes first."""
    app = create_app(
        Settings(
            env=Environment.PRODUCTION,
            database_url=settings.database_url,
            issuer_url=ISSUER,
            session_secret="k" * 48,
            fast_execution=settings.fast_execution,
        )
    )
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "issued_tokens" not in statement and "signing_keys" not in statement:
            statements.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
    with served(app) as base_url:
        yield base_url, statements


@pytest.fixture
async def audit_rows(settings: Settings) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """Counts the audit log's rows on the database the gateway uses, over a connection of the test's own."""
    engine = create_engine(settings.database_url)
    sessions = create_session_factory(engine)

    async def count() -> int:
        async with sessions() as db:
            return int((await db.exec(select(func.count()).select_from(AuditEntry))).one())

    try:
        yield count
    finally:
        await engine.dispose()


async def _send(http: httpx.AsyncClient, gateway: Gateway, case: Case) -> httpx.Response:
    headers = {"content-type": case.content_type, **case.extra_headers}
    if case.role is not None:
        headers["authorization"] = f"Bearer {await gateway.token(case.role)}"
    body = case.body
    if body is None:
        body = orjson.dumps({"query": case.query, "variables": case.variables})
    return await http.request(case.method, "/graphql", content=body, headers=headers)


def _problems(case: Case, response: httpx.Response, elapsed: float, rows: int, ran: list[str]) -> list[str]:
    problems = []
    if response.status_code != case.status:
        problems.append(f"status {response.status_code}")
    if response.headers.get("content-type", "").split(";")[0] != "application/json":
        problems.append(f"content type {response.headers.get('content-type')}")
    body = response.json() if "json" in response.headers.get("content-type", "") else {}
    if case.status == 200:
        messages = " | ".join(error["message"] for error in body.get("errors", []))
        if body.get("data") is not None or case.refusal not in messages:
            problems.append(f"answer {response.text[:200]}")
        if "Did you mean" in messages:
            problems.append("a suggestion describes the schema")
    elif case.refusal not in str(body.get("message", "")) + str(body.get("error", "")):
        problems.append(f"answer {response.text[:200]}")
    if elapsed > TIME_BUDGET_SECONDS:
        problems.append(f"took {elapsed:.2f} s")
    if rows:
        problems.append(f"{rows} audit rows written")
    if ran:
        problems.append(f"{len(ran)} statements run")
    return [f"{case.name}: {problem}" for problem in problems]


async def test_every_abusive_request_is_refused_in_time_and_before_any_resolver(
    gateway: Gateway, production: tuple[str, list[str]], audit_rows: Callable[[], Awaitable[int]]
) -> None:
    base_url, statements = production
    # Given a task sent to the provider, whose reads of it are audited
    await sent_task(gateway, "cpn")
    for role in ("cpn", "hub", "commissioner"):
        await gateway.token(role)
    async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT_SECONDS) as http:
        # and an ordinary read, which runs its resolvers: statements and an audit row
        rows_before = await audit_rows()
        control = await _send(http, gateway, Case("control", "", "{ inbox { items { id " + VICTIM + " } } }"))
        assert control.json()["data"]["inbox"]["items"][0]["victim"]["givenName"] == "Alex"
        assert (await audit_rows()) > rows_before
        assert statements

        # When each hostile request is sent
        tried, failures = 0, []
        for case in GRAPHQL_CASES + HTTP_CASES:
            tried += 1
            rows_before = await audit_rows()
            statements.clear()
            started = time.perf_counter()
            try:
                response = await _send(http, gateway, case)
            except httpx.TimeoutException:
                failures.append(f"{case.name}: no answer in {CLIENT_TIMEOUT_SECONDS} s; the server is stuck")
                break
            elapsed = time.perf_counter() - started
            ran = list(statements)
            rows = await audit_rows() - rows_before
            failures += _problems(case, response, elapsed, rows, ran)

    # Then every one was refused within the budget, and nothing ran
    assert (tried, failures) == (len(GRAPHQL_CASES) + len(HTTP_CASES), [])
