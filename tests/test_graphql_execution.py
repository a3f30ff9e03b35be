"""The gateway's direct path for plain leaf fields answers exactly as graphql-core's own path does.

Each query runs on two copies of a small schema, one with graphql-core's field execution and one with the
gateway's, and the answers (data and errors, with their paths) must be identical: values, enums, custom scalars,
aliases, nulls for nullable and non-null fields, and the fields that must never take the direct path (resolvers,
permissions, arguments, lists, objects).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType
from strawberry.permission import BasePermission

from gateway.graphql.execution import GatewayExecutionContext, plain_leaf


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    AMBER = "amber"


class NeverAllowed(BasePermission):
    message = "Not allowed."

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Leafy:
    name: str
    count: int
    ratio: float
    flag: bool
    colour: Colour
    when: datetime
    day: date
    maybe: str | None
    tags: list[str]
    broken: str  # a non-null field that will hold None on some sources
    wrong_type: int  # will hold a value the Int scalar refuses
    secret: str = strawberry.field(permission_classes=[NeverAllowed], default="hidden")

    @strawberry.field
    def shouted(self) -> str:
        return self.name.upper()

    @strawberry.field
    def repeated(self, times: int) -> str:
        return self.name * times

    @strawberry.field
    def child(self) -> Leafy | None:
        return None if self.count > 1 else make(count=self.count + 1)


@dataclass
class _Row:
    """Sources are plain objects, as the gateway's services return them, not instances of the Strawberry type."""

    name: str = "anna"
    count: int = 0
    ratio: float = 0.25
    flag: bool = True
    colour: Colour = Colour.AMBER
    when: datetime = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    day: date = date(2026, 11, 30)
    maybe: str | None = None
    tags: list[str] = field(default_factory=lambda: ["a", "b"])
    broken: str | None = "fine"
    wrong_type: Any = 3
    secret: str = "hidden"


def make(**overrides: Any) -> Any:
    return _Row(**overrides)


SOURCES: dict[str, Any] = {
    "ordinary": make(),
    "broken": make(broken=None),
    "wrong_type": make(wrong_type="not a number"),
}


@strawberry.type
class Query:
    @strawberry.field
    def leafy(self, which: str) -> Leafy:
        return SOURCES[which]  # type: ignore[no-any-return]

    @strawberry.field
    def leaves(self) -> list[Leafy]:
        return [make(name=f"n{i}", count=i, maybe=None if i % 2 else "x") for i in range(3)]


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query)
    return plain, strawberry.Schema(query=Query, execution_context_class=GatewayExecutionContext)


def answer(schema: strawberry.Schema, query: str) -> dict[str, Any]:
    result = schema.execute_sync(query)
    return {"data": result.data, "errors": [error.formatted for error in result.errors or []]}


ALL_LEAVES = "name count ratio flag colour when day maybe shouted repeated(times: 2) tags"

QUERIES = {
    "every kind of leaf": f'{{ leafy(which: "ordinary") {{ {ALL_LEAVES} __typename }} }}',
    "aliases, repeated fields": '{ leafy(which: "ordinary") { a: name b: name name c: colour d: count } }',
    "lists of objects and nesting": f"{{ leaves {{ {ALL_LEAVES} child {{ name count child {{ name }} }} }} }}",
    "null for a non-null field": '{ leafy(which: "broken") { name broken count } }',
    "a value the scalar refuses": '{ leafy(which: "wrong_type") { name wrongType } }',
    "a permission-guarded leaf": '{ leafy(which: "ordinary") { name secret } }',
    "fragments": '{ leafy(which: "ordinary") { ...F } } fragment F on Leafy { name colour }',
}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
def test_direct_path_answers_exactly_as_graphql_core(query: str) -> None:
    plain, gateway = schemas()
    expected = answer(plain, query)
    assert answer(gateway, query) == expected


def test_errors_keep_their_messages_and_paths() -> None:
    _, gateway = schemas()
    broken = answer(gateway, QUERIES["null for a non-null field"])
    assert broken["data"] is None
    assert broken["errors"][0]["path"] == ["leafy", "broken"]
    refused = answer(gateway, QUERIES["a value the scalar refuses"])
    assert refused["errors"][0]["path"] == ["leafy", "wrongType"]
    assert "Int cannot represent" in refused["errors"][0]["message"]
    guarded = answer(gateway, QUERIES["a permission-guarded leaf"])
    assert guarded["errors"][0]["message"] == "Not allowed."


def test_only_plain_leaves_take_the_direct_path() -> None:
    _, gateway = schemas()
    leafy = gateway._schema.get_type("Leafy")
    assert isinstance(leafy, GraphQLObjectType)
    direct = {name for name, definition in leafy.fields.items() if plain_leaf(definition) is not None}
    assert direct == {"name", "count", "ratio", "flag", "colour", "when", "day", "maybe", "broken", "wrongType"}
