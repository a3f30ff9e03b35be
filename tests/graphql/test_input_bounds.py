"""Every id argument is parsed and bounded once, and every text input has a maximum length, checked before any rule.

Before, an id too large for the database's 32-bit columns (25 nines) reached the driver and came back as
`Unexpected error.` (an OverflowError), and a 100,000-character given name was stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from strawberry.types.base import StrawberryObjectDefinition

from gateway.graphql.bounds import declared_bound
from gateway.schema import build_schema
from tests.support.api import Gateway, client, key, referral_input
from tests.support.callers import (
    CallerWorld,
    caller_templates,
    caller_world,
    caller_world_and_url,
    database_url,
    gateway,
    settings,
)

# The caller world's fixtures, bound for this module's tests.
__all__ = ["caller_templates", "caller_world", "caller_world_and_url", "client", "database_url", "gateway", "settings"]

HUGE_ID = "9" * 25
CALLERS = ("hub", "provider", "rj-coordinator", "commissioner")
SCHEMA = build_schema()


def _refusal(body: dict[str, Any]) -> tuple[str, str]:
    """The (code, message) a mutation refused with, or ("not-found", "") for a query that answered null."""
    assert "errors" not in body, body  # before the fix: "Unexpected error." (an OverflowError in the driver)
    [payload] = body["data"].values()
    if payload is None:
        return "not-found", ""  # a query answers a missing and a not-yours record alike: null
    assert payload["__typename"] == "OperationError", body
    return payload["code"], payload["message"]


NAMED_ID_CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "task": ("hub", "query($id: ID!) { task(id: $id) { id } }", {"id": HUGE_ID}),
    "acceptTask": (
        "provider",
        "mutation($input: TaskChangeInput!) { acceptTask(input: $input) { __typename ... on OperationError "
        "{ code message } } }",
        {"input": {"taskId": HUGE_ID, "expectedVersion": 1, "idempotencyKey": "k-accept"}},
    ),
    "rjCase": ("rj-coordinator", "query($id: ID!) { rjCase(id: $id) { case { id } } }", {"id": HUGE_ID}),
    "addRjParty": (
        "rj-coordinator",
        "mutation($input: AddRjPartyInput!) { addRjParty(input: $input) { __typename ... on OperationError "
        "{ code message } } }",
        {
            "input": {
                "caseId": HUGE_ID,
                "role": "HARMED",
                "givenName": "Perpetua",
                "familyName": "Example",
                "idempotencyKey": "k-party",
            }
        },
    ),
    "registerRjFacilitator": (
        "rj-coordinator",
        "mutation($input: RegisterRjFacilitatorInput!) { registerRjFacilitator(input: $input) { __typename "
        "... on OperationError { code message } } }",
        {
            "input": {
                "userId": HUGE_ID,
                "homeAgency": "PROBATION_SERVICE",
                "accreditationLevel": "ACCREDITED_PRACTITIONER",
                "accreditationExpiresOn": "2030-01-01",
                "idempotencyKey": "k-facilitator",
            }
        },
    ),
}


@pytest.mark.parametrize("field", NAMED_ID_CASES)
async def test_an_id_too_large_for_the_database_is_refused_as_no_such_record(gateway: Gateway, field: str) -> None:
    role, query, variables = NAMED_ID_CASES[field]

    code, message = _refusal(await gateway.gql(role, query, variables))

    # A query answers null, as for any id that names nothing; a mutation is refused with a validation error.
    if query.startswith("query"):
        assert (code, message) == ("not-found", "")
    else:
        assert code == "validation"
        assert message.startswith("That is not a") and message.endswith(" id.")


@pytest.mark.parametrize("bad", ["²", "١٢", "-1", "1e3", " 1", "12345678901"])
async def test_only_ascii_digits_that_fit_are_ids(gateway: Gateway, bad: str) -> None:
    change = {"taskId": bad, "expectedVersion": 1, "idempotencyKey": key(), "reason": "VICTIM_REQUEST"}
    query = (
        "mutation($i: CancelTaskInput!) { cancelTask(input: $i) { __typename ... on OperationError { code message } } }"
    )

    code, message = _refusal(await gateway.gql("hub", query, {"i": change}))

    assert (code, message) == ("validation", "That is not a task id.")


def _sample(kind: GraphQLInputType, id_value: str) -> Any:
    """A value of this input type, every id in it `id_value`, every other leaf plausible."""
    if isinstance(kind, GraphQLNonNull):
        return _sample(kind.of_type, id_value)
    if isinstance(kind, GraphQLList):
        return [_sample(kind.of_type, id_value)]
    if isinstance(kind, GraphQLEnumType):
        return next(iter(kind.values))
    if isinstance(kind, GraphQLInputObjectType):
        return {
            name: _sample(field.type, id_value) if name != "idempotencyKey" else key()
            for name, field in kind.fields.items()
            if isinstance(field.type, GraphQLNonNull) or _holds_id(field.type)
        }
    assert isinstance(kind, GraphQLScalarType)
    return {
        "ID": id_value,
        "String": "x",
        "Int": 1,
        "Float": 1.0,
        "Boolean": False,
        "DateTime": datetime.now(UTC).isoformat(),
        "Date": datetime.now(UTC).date().isoformat(),
    }[kind.name]


def _holds_id(kind: GraphQLInputType, seen: frozenset[str] = frozenset()) -> bool:
    named = get_named_type(kind)
    if named.name == "ID":
        return True
    if isinstance(named, GraphQLInputObjectType) and named.name not in seen:
        return any(_holds_id(f.type, seen | {named.name}) for f in named.fields.values())
    return False


def _fields_taking_ids() -> list[tuple[str, str]]:
    found = []
    for operation, root in (("query", SCHEMA._schema.query_type), ("mutation", SCHEMA._schema.mutation_type)):
        assert isinstance(root, GraphQLObjectType)
        for name, field in root.fields.items():
            if any(_holds_id(argument.type) for argument in field.args.values()):
                found.append((operation, name))
    return found


def _document(operation: str, name: str) -> tuple[str, dict[str, Any]]:
    root = SCHEMA._schema.query_type if operation == "query" else SCHEMA._schema.mutation_type
    assert root is not None
    field = root.fields[name]
    variables = {arg: _sample(a.type, HUGE_ID) for arg, a in field.args.items() if isinstance(a.type, GraphQLNonNull)}
    variables |= {arg: _sample(a.type, HUGE_ID) for arg, a in field.args.items() if _holds_id(a.type)}
    declared = ", ".join(f"${arg}: {field.args[arg].type}" for arg in variables)
    passed = ", ".join(f"{arg}: ${arg}" for arg in variables)
    selection = "__typename" if not isinstance(get_named_type(field.type), GraphQLScalarType) else ""
    return f"{operation}({declared}) {{ {name}({passed}) {selection and '{ ' + selection + ' }'} }}", variables


def test_the_sweep_finds_the_fields_named_in_the_issue() -> None:
    # Guards the sweep below: if it stopped finding fields, it would pass vacuously.
    names = {name for _, name in _fields_taking_ids()}
    assert {"task", "acceptTask", "rjCase", "addRjParty", "registerRjFacilitator", "referral"} <= names
    assert len(names) > 30


async def test_no_field_taking_an_id_fails_on_one_too_large(gateway: Gateway, caller_world: CallerWorld) -> None:
    answers = {}
    for operation, name in _fields_taking_ids():
        query, variables = _document(operation, name)
        for caller in CALLERS:
            response = await gateway.raw(caller, query, variables)
            answers[(name, caller)] = (response.status_code, "Unexpected error." in response.text)

    assert {k: v for k, v in answers.items() if v != (200, False)} == {}


# -- text --------------------------------------------------------------------------------------------------------

CREATE_REFERRAL = """
mutation($input: CreateReferralInput!) {
  createReferral(input: $input) { __typename ... on OperationError { code message } }
}"""
REFERRALS = "query { referrals(first: 50) { items { id } } }"


@pytest.mark.parametrize(
    ("path", "field", "bound"),
    [
        (("victim", "givenName"), "givenName", 100),
        (("victim", "familyName"), "familyName", 100),
        (("victim", "phone"), "phone", 32),
        (("victim", "email"), "email", 254),
        (("victim", "postcode"), "postcode", 10),
        (("victim", "safeContact", "safeTimes"), "safeTimes", 200),
        (("case", "assessmentNotes"), "assessmentNotes", 2000),
        (("case", "crimeReference"), "crimeReference", 64),
        (("idempotencyKey",), "idempotencyKey", 200),
    ],
)
async def test_text_over_its_bound_is_refused_before_anything_changes(
    gateway: Gateway, path: tuple[str, ...], field: str, bound: int
) -> None:
    before = await gateway.gql("hub", REFERRALS)
    value = "Zebedee" * 15_000  # about 100,000 characters
    referral = referral_input(providers=["cpn"])
    target = referral
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value

    body = await gateway.gql("hub", CREATE_REFERRAL, {"input": referral})

    assert body["data"]["createReferral"] == {
        "__typename": "OperationError",
        "code": "validation",
        "message": f"The {field} is at most {bound} characters.",
    }
    assert "Zebedee" not in str(body)
    assert await gateway.gql("hub", REFERRALS) == before


async def test_text_at_its_bound_is_accepted(gateway: Gateway) -> None:
    referral = referral_input(providers=["cpn"])
    referral["victim"]["givenName"] = "A" * 100

    body = await gateway.gql("hub", CREATE_REFERRAL, {"input": referral})

    assert body["data"]["createReferral"]["__typename"] == "ReferralPayload", body


async def test_a_bare_text_argument_has_the_default_bound(gateway: Gateway) -> None:
    body = await gateway.gql(
        "commissioner", "query($p: String!) { quarterlyReturn(period: $p) { period } }", {"p": "Q" * 5000}
    )

    assert body["errors"][0]["message"] == "The period is at most 200 characters."
    assert "QQQ" not in str(body)


def test_every_text_input_field_declares_its_bound() -> None:
    unbounded, seen = [], 0
    for definition in SCHEMA.schema_converter.type_map.values():
        strawberry_type = definition.definition
        if not isinstance(strawberry_type, StrawberryObjectDefinition) or not strawberry_type.is_input:
            continue
        graphql_type = SCHEMA._schema.get_type(strawberry_type.name)
        assert isinstance(graphql_type, GraphQLInputObjectType)
        seen += 1
        for field in strawberry_type.fields:
            name = field.graphql_name or SCHEMA.config.name_converter.get_graphql_name(field)
            if get_named_type(graphql_type.fields[name].type).name == "String" and declared_bound(field) is None:
                unbounded.append(f"{strawberry_type.name}.{name}")

    assert unbounded == []
    assert seen > 40  # the walk itself still finds the inputs
