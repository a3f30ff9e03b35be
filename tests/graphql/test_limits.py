"""The surface limits are measured in time linear in the document, and validation has a hard time budget.

Strawberry's depth and alias limiters and the earlier cost rule expanded every fragment at every spread: 20
fragments each spreading the one before twice held the event loop for 13 s, /healthz included, and each two more
levels took four times as long.
"""

from __future__ import annotations

import asyncio
import gc
import time

import httpx
import pytest
from graphql import GraphQLSchema, parse, specified_rules
from strawberry import Schema
from strawberry.types import ExecutionContext

from gateway.app import create_app
from gateway.graphql.limits import MAX_ALIASES, MAX_DEPTH, BudgetExceeded, limit_errors
from gateway.graphql.validation import DocumentChecks, validate_by
from gateway.schema import build_schema
from gateway.settings import Settings
from tests.support.loopback import served

TIME_BUDGET_SECONDS = 1.0


def fan_out(levels: int, leaf: str = "slug") -> str:
    """About 10 words a level; 2^(levels-1) copies of `leaf` once every spread is expanded."""
    fragments = [f"fragment F0 on Provider {{ {leaf} }}"]
    fragments += [f"fragment F{i} on Provider {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels)]
    return f"{{ providers {{ ...F{levels - 1} }} }} " + " ".join(fragments)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return build_schema(production=True)


def _messages(graphql_schema: GraphQLSchema, query: str) -> list[str]:
    return [e.message for e in limit_errors(graphql_schema, parse(query), deadline=time.monotonic() + 10)]


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_a_30_level_fragment_fan_out_is_refused_in_milliseconds_while_healthz_answers(database_url: str) -> None:
    # Given the gateway served by uvicorn on loopback
    with served(create_app(Settings(database_url=database_url))) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
            assert (await http.get("/healthz")).status_code == 200

            # When an anonymous caller sends a 30-level fragment fan-out while a probe asks for /healthz
            async def timed(request: asyncio.Future[httpx.Response]) -> tuple[httpx.Response, float]:
                started = time.perf_counter()
                response = await request
                return response, time.perf_counter() - started

            (refused, refused_in), (probe, probed_in) = await asyncio.gather(
                timed(asyncio.ensure_future(http.post("/graphql", json={"query": fan_out(30)}))),
                timed(asyncio.ensure_future(http.get("/healthz"))),
            )

    # Then the query is refused as too expensive within the budget, and the probe is answered
    assert refused.status_code == 200
    assert refused.json()["data"] is None
    assert refused.json()["errors"][0]["message"] == "The query is too expensive: cost 5368709121 exceeds 10000."
    assert refused_in < TIME_BUDGET_SECONDS
    assert (probe.status_code, probe.json()) == (200, {"status": "ok"})
    assert probed_in < TIME_BUDGET_SECONDS


@pytest.mark.parametrize("levels", [30, 60, 90])
def test_fan_outs_of_any_length_are_measured_within_the_budget(schema: Schema, levels: int) -> None:
    started = time.perf_counter()

    messages = _messages(schema._schema, fan_out(levels, "a: slug"))

    assert messages == [
        f"{2 ** (levels - 1)} aliases found. Allowed: {MAX_ALIASES}",
        f"The query is too expensive: cost {1 + 10 * 2 ** (levels - 1)} exceeds 10000.",
    ]
    assert time.perf_counter() - started < TIME_BUDGET_SECONDS


def test_today_s_limits_and_messages_hold(schema: Schema) -> None:
    deepest_allowed = (
        '{ monitoring(firstPeriod: "2026-Q1", lastPeriod: "2026-Q1") { rows { volumes { '
        "rejectedByReason { count { value } } } } } }"
    )
    one_too_deep = "{ inbox { items { victim { safeContact { a { b { c { d } } } } } } } }"
    named_too_deep = "query Deep { inbox { items { victim { safeContact { a { b { c { d } } } } } } } }"
    fifteen = "{ " + " ".join(f"a{i}: providers {{ slug }}" for i in range(MAX_ALIASES)) + " }"

    assert _messages(schema._schema, deepest_allowed) == []
    assert _messages(schema._schema, "{ inbox { items { victim { safeContact { a { b { c } } } } } } }") == []
    assert _messages(schema._schema, one_too_deep) == [f"'anonymous' exceeds maximum operation depth of {MAX_DEPTH}"]
    assert _messages(schema._schema, named_too_deep) == [f"'Deep' exceeds maximum operation depth of {MAX_DEPTH}"]
    assert _messages(schema._schema, fifteen) == []
    assert _messages(schema._schema, fifteen.replace("{ a0:", "{ extra: providers { slug } a0:")) == [
        "16 aliases found. Allowed: 15"
    ]


def test_a_depth_through_fragments_counts_as_written_out(schema: Schema) -> None:
    # Each fragment adds its own depth where it is spread, measured once however often it is spread.
    chain = (
        "{ inbox { items { ...T } } } fragment T on Task { victim { ...V ...V } } "
        "fragment V on ProviderVictim { safeContact { ...S } } fragment S on SafeContact { a { b { c { d } } } }"
    )

    assert _messages(schema._schema, chain) == ["'anonymous' exceeds maximum operation depth of 6"]


def test_cycles_and_unknown_fragments_are_left_to_graphql_core_s_rules(schema: Schema) -> None:
    assert (
        _messages(
            schema._schema,
            "{ providers { ...A } } fragment A on Provider { slug ...B } fragment B on Provider { ...A }",
        )
        == []
    )
    assert _messages(schema._schema, "{ providers { ...Nope } }") == []


def test_measuring_past_the_deadline_stops(schema: Schema) -> None:
    with pytest.raises(BudgetExceeded):
        limit_errors(schema._schema, parse("{ providers { slug } }"), deadline=time.monotonic() - 1)


def _context(schema: Schema, query: str) -> ExecutionContext:
    return ExecutionContext(query=query, schema=schema, allowed_operations=(), graphql_document=parse(query))


def test_a_document_that_outlasts_the_budget_is_refused_as_too_expensive_and_not_cached(schema: Schema) -> None:
    checks = DocumentChecks(extra_rules=[], hide_suggestions=True, budget_seconds=-1)
    query = "{ providers { slug } }"

    refused = checks.errors(_context(schema, query))
    checks.budget_seconds = 10
    accepted = checks.errors(_context(schema, query))

    assert [(e.message, e.extensions) for e in refused] == [
        ("The query is too expensive: it could not be checked in time.", {"code": "query-too-expensive"})
    ]
    assert accepted == []


def test_graphql_core_s_rules_stop_at_the_deadline_too(schema: Schema) -> None:
    document = parse("{ providers { slug } }")

    assert (
        validate_by(specified_rules, schema._schema, document, deadline=time.monotonic() + 10, hide_suggestions=True)
        == []
    )
    with pytest.raises(BudgetExceeded):
        validate_by(specified_rules, schema._schema, document, deadline=time.monotonic() - 1, hide_suggestions=True)


def test_a_garbage_collection_during_validation_does_not_count_against_the_document(schema: Schema) -> None:
    """The budget bounds the work of checking the document; a collection of the whole heap that the checking's
    allocations would trigger waits until it ends (one took over 2 s in the test suite's process and refused an
    ordinary query)."""
    checks = DocumentChecks(extra_rules=[], hide_suggestions=True, budget_seconds=0.5)
    collections: list[str] = []

    def slow_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(phase)
            time.sleep(0.6)  # longer than the whole budget

    context = _context(schema, "{ providers { slug name firstContactTargetHours } }")
    threshold = gc.get_threshold()
    gc.callbacks.append(slow_collection)
    gc.set_threshold(1)  # a collection at almost every allocation, as if the heap were due one
    try:
        errors = checks.errors(context)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(slow_collection)

    assert errors == []
    assert collections == []  # none ran while the document was being checked
