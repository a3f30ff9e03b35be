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
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType
from strawberry.permission import BasePermission

from gateway.auth.principal import Principal, Scope
from gateway.graphql.execution import GatewayExecutionContext, plain_plan
from gateway.graphql.permissions import requires


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    AMBER = "amber"


class NeverAllowed(BasePermission):
    message = "Not allowed."

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Inner:
    label: str
    strict: str  # non-null: None here must null the nearest nullable parent, with the error's path


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
    maybe_tags: list[str | None] | None
    colours: list[Colour]
    inner: Inner
    maybe_inner: Inner | None
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

    # Resolvers of (self, info) behind permissions the caller alone decides: the context's guarded path.
    @strawberry.field(permission_classes=[requires(Scope.TASKS_READ)])
    def guarded(self, info: strawberry.Info) -> str:
        return f"{self.name} for {info.context.principal.organisation_slug}"

    @strawberry.field(permission_classes=[requires(Scope.TASKS_READ)])
    def guarded_inner(self, info: strawberry.Info) -> Inner | None:
        return _InnerRow(label=f"inner of {self.name}", strict=None if self.count == 2 else "kept")  # type: ignore[return-value]

    @strawberry.field(permission_classes=[requires(Scope.TASKS_READ)])
    def guarded_list(self, info: strawberry.Info) -> list[Inner]:
        return [_InnerRow(label=str(i)) for i in range(self.count)]  # type: ignore[misc]

    @strawberry.field(permission_classes=[requires(Scope.GRANTS_WRITE)])
    def refused(self, info: strawberry.Info) -> str | None:
        return "never shown"

    @strawberry.field(permission_classes=[requires(Scope.GRANTS_WRITE)])
    def refused_non_null(self, info: strawberry.Info) -> str:
        return "never shown"

    @strawberry.field
    def raises(self, info: strawberry.Info) -> str | None:
        raise ValueError(f"no value for {self.name}")

    @strawberry.field(permission_classes=[requires(Scope.TASKS_READ)])
    def later(self, info: strawberry.Info) -> str:
        async def value() -> str:
            return f"{self.name} later"

        return value()  # type: ignore[return-value]  # an awaitable from a plain def, as the dataloaders give


@dataclass
class _InnerRow:
    label: str = "inside"
    strict: str | None = "kept"


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
    tags: Any = field(default_factory=lambda: ["a", "b"])
    maybe_tags: Any = field(default_factory=lambda: ["x", None])
    colours: Any = (Colour.RED, Colour.AMBER)
    inner: Any = field(default_factory=_InnerRow)
    maybe_inner: Any = None
    broken: str | None = "fine"
    wrong_type: Any = 3
    secret: str = "hidden"


def make(**overrides: Any) -> Any:
    return _Row(**overrides)


SOURCES: dict[str, Any] = {
    "ordinary": make(),
    "broken": make(broken=None),
    "wrong_type": make(wrong_type="not a number"),
    "null_in_list": make(tags=["a", None]),
    "string_for_list": make(tags="ab"),
    "nested_null": make(maybe_inner=_InnerRow(strict=None), inner=_InnerRow(strict=None)),
    "object_present": make(maybe_inner=_InnerRow(label="present")),
    "missing_inner": make(inner=None),
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


CALLER = SimpleNamespace(
    principal=Principal(organisation_id=7, organisation_slug="cpn", scopes=frozenset({Scope.TASKS_READ}))
)


def answer(schema: strawberry.Schema, query: str, context: Any = CALLER) -> dict[str, Any]:
    result = schema.execute_sync(query, context_value=context)
    return {"data": result.data, "errors": [error.formatted for error in result.errors or []]}


ALL_LEAVES = (
    "name count ratio flag colour when day maybe shouted repeated(times: 2) tags maybeTags colours "
    "inner { label strict } maybeInner { label }"
)

QUERIES = {
    "every kind of leaf": f'{{ leafy(which: "ordinary") {{ {ALL_LEAVES} __typename }} }}',
    "aliases, repeated fields": '{ leafy(which: "ordinary") { a: name b: name name c: colour d: count } }',
    "lists of objects and nesting": f"{{ leaves {{ {ALL_LEAVES} child {{ name count child {{ name }} }} }} }}",
    "null for a non-null field": '{ leafy(which: "broken") { name broken count } }',
    "a value the scalar refuses": '{ leafy(which: "wrong_type") { name wrongType } }',
    "a permission-guarded leaf": '{ leafy(which: "ordinary") { name secret } }',
    "fragments": '{ leafy(which: "ordinary") { ...F } } fragment F on Leafy { name colour }',
    "null item in a non-null list": '{ leafy(which: "null_in_list") { name tags } }',
    "a string where a list belongs": '{ leafy(which: "string_for_list") { name tags } }',
    "nested nulls in objects": '{ leafy(which: "nested_null") { name maybeInner { label strict } } }',
    "nested null in a non-null object": '{ leafy(which: "nested_null") { name inner { label strict } } }',
    "a present optional object": '{ leafy(which: "object_present") { maybeInner { label } m: maybeInner { strict } } }',
    "a missing non-null object": '{ leafy(which: "missing_inner") { name inner { label } } }',
    "objects in lists": "{ leaves { name inner { label } maybeInner { label } } }",
    "guarded resolvers": "{ leaves { guarded guardedInner { label strict } guardedList { label } } }",
    "guarded, refused": '{ leafy(which: "ordinary") { name guarded refused } }',
    "guarded, refused non-null": '{ leafy(which: "ordinary") { name refusedNonNull } }',
    "a resolver that raises": "{ leaves { name raises } }",
}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
def test_direct_path_answers_exactly_as_graphql_core(query: str) -> None:
    plain, gateway = schemas()
    expected = answer(plain, query)
    assert answer(gateway, query) == expected


def test_without_a_caller_every_guarded_field_is_refused_as_before() -> None:
    plain, gateway = schemas()
    anonymous = SimpleNamespace(principal=None)
    query = QUERIES["guarded resolvers"]
    expected = answer(plain, query, anonymous)
    assert answer(gateway, query, anonymous) == expected
    assert expected["errors"][0]["extensions"] == {"code": "forbidden"}


async def test_an_awaitable_from_a_guarded_resolver_is_awaited() -> None:
    plain, gateway = schemas()
    query = "{ leaves { name later guarded } }"
    results = [await schema.execute(query, context_value=CALLER) for schema in (plain, gateway)]
    assert results[0].errors is None
    assert results[0].data == results[1].data and results[1].errors is None


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
    direct = {name: type(plain_plan(definition)).__name__ for name, definition in leafy.fields.items()}
    leaves = ("name", "count", "ratio", "flag", "colour", "when", "day", "maybe", "broken", "wrongType")
    assert direct == {
        **dict.fromkeys(leaves, "_PlainLeaf"),
        **dict.fromkeys(("tags", "maybeTags", "colours"), "_PlainLeafList"),
        **dict.fromkeys(("inner", "maybeInner"), "_PlainObject"),
        **dict.fromkeys(
            ("guarded", "guardedInner", "guardedList", "refused", "refusedNonNull", "raises", "later"),
            "_GuardedResolver",
        ),
        # no info, arguments, or a permission that looks at more than the caller: through Strawberry every time
        **dict.fromkeys(("shouted", "repeated", "child", "secret"), "NoneType"),
    }
