"""Where the direct path must step aside for graphql-core's and Strawberry's own: each fallback, proved.

The direct path answers plain fields itself; it must hand back to the ordinary executor when middleware is
installed, when the schema has exception handlers (which may turn a resolver's error into a result), when the
context is not the gateway's, and when reading a plain attribute fails.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import ExecutionResult, GraphQLObjectType, execute, parse

from gateway.graphql.execution import GatewayExecutionContext
from tests.graphql.test_execution import CALLER, QUERIES, SOURCES, Query, answer, schemas


def test_with_middleware_every_field_goes_through_graphql_core() -> None:
    _, gateway = schemas()
    seen: list[str] = []

    def record(next_: Callable[..., Any], root: Any, info: Any, **arguments: Any) -> Any:
        seen.append(info.field_name)
        return next_(root, info, **arguments)

    result = execute(
        gateway._schema,
        parse('{ leafy(which: "ordinary") { name count colour inner { label } } }'),
        context_value=CALLER,
        middleware=[record],
        executor_class=GatewayExecutionContext,
    )
    assert isinstance(result, ExecutionResult)
    assert result.errors is None
    assert result.data == {"leafy": {"name": "anna", "count": 0, "colour": "AMBER", "inner": {"label": "inside"}}}
    # The plain leaves reached the middleware: the direct path did not answer them behind its back.
    assert seen == ["leafy", "name", "count", "colour", "inner", "label"]


class Refusal(Exception):
    pass


@strawberry.type
class RefusalResult:
    reason: str


class RefusalHandler(strawberry.ExceptionHandler[Refusal, RefusalResult]):
    def handle(self, exception: Refusal, *, field: Any, info: Any) -> RefusalResult:
        return RefusalResult(reason="refused")


def test_with_exception_handlers_guarded_resolvers_are_left_to_strawberry() -> None:
    handled = strawberry.Schema(
        query=Query, execution_context_class=GatewayExecutionContext, exception_handlers=[RefusalHandler()]
    )
    plain = strawberry.Schema(query=Query, exception_handlers=[RefusalHandler()])
    query = "{ leaves { name guarded guardedInner { label strict } } }"
    assert answer(handled, query) == answer(plain, query)
    leafy = handled._schema.get_type("Leafy")
    assert isinstance(leafy, GraphQLObjectType)
    plans = GatewayExecutionContext._plans[leafy]
    # Plain leaves still take the direct path; the guarded resolvers do not.
    assert type(plans["name"]).__name__ == "_PlainLeaf"
    assert type(plans["guarded"]).__name__ == "object"


def test_a_context_that_is_not_the_gateways_is_answered_as_graphql_core_would() -> None:
    plain, gateway = schemas()
    foreign = SimpleNamespace(user="someone")  # no `principal`: the caller cannot be decided once for all
    query = QUERIES["guarded resolvers"]
    expected = answer(plain, query, foreign)
    assert answer(gateway, query, foreign) == expected
    assert expected["errors"], "the guarded fields must fail without a principal, on both paths"


def test_a_missing_attribute_is_reported_as_graphql_core_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SOURCES, "half_built", SimpleNamespace(name="half", count=1))
    plain, gateway = schemas()
    query = '{ leafy(which: "half_built") { name count ratio } }'
    expected = answer(plain, query)
    assert answer(gateway, query) == expected
    assert expected["data"] is None
    assert expected["errors"][0]["path"] == ["leafy", "ratio"]
