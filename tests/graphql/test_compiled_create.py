"""The compiled createReferral (gateway/referrals/compiled/create.py) against the resolver path, on PostgreSQL.

Two apps on one database, one with the compiled statement and one without, take the same generated inputs
(hypothesis): victims with and without a date of birth, guardian and optional details; every crime category and
needs; consents none, one or two, some refused (given in the future, a guardian's for an adult); providers eligible,
ineligible, unknown, repeated or inactive; text over its bound. Each pair of answers must be the same once ids are
numbered in order, and each must have written the same rows in every table it touches (victims, cases, consents,
referrals, tasks, the idempotency key and the audit row), ids and references included once numbered. Every input
the resolvers accept must have been answered by the compiled statement, and every refusal by the resolvers.

Then what the statement must get right on its own: a replayed key, a reused one, many retries of one key at once,
a token revoked or a person's role gone (nothing written), and the audit rows it writes sealed in order.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.audit.sealer import seal_until_done
from gateway.audit.service import verify_report
from gateway.db import create_engine, create_session_factory
from gateway.directory.vocabularies import CrimeCategory, Need
from gateway.graphql.compiled import CompiledReads
from gateway.settings import Settings
from tests.graphql.compiled_hub_world import ask, person_token, sql
from tests.support.api import (
    ISSUER,
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    key,
    referral_input,
    world,
)
from tests.support.compiled import COMPARE, compiled_settings, database_kind

__all__ = ["api_templates", "client", "compiled_settings", "database_kind", "database_url", "gateway", "world"]

CREATE = """mutation Create($input: CreateReferralInput!) {
  createReferral(input: $input) {
    __typename
    ... on ReferralPayload { referral { id reference createdAt __typename } }
    ... on OperationError { code message }
  }
}"""
# The tables a createReferral writes, and which of their columns hold ids of which table's rows.
TABLES: dict[str, dict[str, str]] = {
    "victims": {"id": "victims"},
    "cases": {"id": "cases", "victim_id": "victims"},
    "consents": {"id": "consents", "victim_id": "victims"},
    "referrals": {"id": "referrals", "case_id": "cases", "victim_id": "victims"},
    "referral_tasks": {
        "id": "referral_tasks",
        "referral_id": "referrals",
        "victim_id": "victims",
        "case_id": "cases",
        "replaces_task_id": "referral_tasks",
        "consent_id": "consents",
    },
    "idempotency_keys": {"id": "idempotency_keys", "result_id": "referrals"},
    "audit_log": {"id": "audit_log", "victim_id": "victims"},
}
SUBJECTS = {
    "victim": "victims",
    "case": "cases",
    "referral": "referrals",
    "consents": "consents",
    "tasks": "referral_tasks",
}
# Set by the clock as each row is written, or by the sealer whenever it runs: present, but never the same twice.
MOMENTS = {"created_at", "updated_at", "recorded_at", "occurred_at"}
SEALING = {"sequence", "previous_hash", "row_hash", "sealed_at", "transaction_id"}
PROVIDERS = ["cpn", "family-action", "rape-crisis", "rj-hub", "road-victims-trust", "no-such-provider"]


@dataclass
class Paths:
    compiled: httpx.AsyncClient
    resolvers: httpx.AsyncClient
    compiled_reads: CompiledReads
    settings: Settings
    tokens: dict[str, str] = field(repr=False)


@pytest.fixture
async def paths(gateway: Gateway, client: httpx.AsyncClient, app: Starlette) -> AsyncIterator[Paths]:
    settings_ = gateway.world.settings
    tokens = {role: await gateway.token(role) for role in ("hub", "cpn")}
    tokens["coordinator"] = await person_token(
        client, settings_, email="coordinator@hub.test", roles=["hub-coordinator"], scope="referrals:write"
    )
    # One provider organisation stays inactive throughout: a referral naming it is refused on both paths.
    await sql(settings_, "UPDATE organisations SET active = false WHERE slug = 'road-victims-trust'")
    resolver_app = create_app(settings_.model_copy(update={"compiled_reads": False}))
    compiled_reads = app.state.compiled_reads
    assert isinstance(compiled_reads, CompiledReads)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=resolver_app), base_url=ISSUER) as resolvers:
            yield Paths(client, resolvers, compiled_reads, settings_, tokens)
    finally:
        await resolver_app.state.engine.dispose()


# -- what a request wrote, numbered ------------------------------------------------------------------------------


async def marks(settings_: Settings) -> dict[str, int]:
    rows = await sql(settings_, *(f"SELECT '{t}', coalesce(max(id), 0) FROM {t}" for t in TABLES))
    return {str(name): int(last) for name, last in rows}


async def written(
    settings_: Settings, since: dict[str, int], until: dict[str, int] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every row written since the marks, each id replaced by the row's place among the new rows of its table (so two
    requests that wrote the same things compare equal), references checked against their ids and then numbered."""
    raw = {
        table: [
            orjson.loads(text)
            for (text,) in await sql(
                settings_,
                f"SELECT row_to_json(t)::text FROM {table} t WHERE id > {since[table]}"
                + (f" AND id <= {until[table]}" if until is not None else "")
                + " ORDER BY id",
            )
        ]
        for table in TABLES
    }
    numbered = {table: {row["id"]: index for index, row in enumerate(rows)} for table, rows in raw.items()}

    def number(table: str, value: Any) -> Any:
        if value is None:
            return None
        return f"{table}#{numbered[table].get(value, 'old')}"

    references = {row["id"]: row["reference"] for row in raw["referrals"]}
    for row in raw["referrals"]:
        assert row["reference"] == f"REF-{row['created_at'][:4]}-{row['id']:06d}", row["reference"]
    for row in raw["referral_tasks"]:
        assert row["reference"] == f"{references[row['referral_id']]}-{row['provider_slug'].upper()}"
    found: dict[str, list[dict[str, Any]]] = {}
    for table, rows in raw.items():
        found[table] = []
        for row in rows:
            shown: dict[str, Any] = {}
            for column, value in row.items():
                if column in TABLES[table]:
                    shown[column] = number(TABLES[table][column], value)
                elif column in MOMENTS:
                    shown[column] = value is not None
                elif column in SEALING or (table == "idempotency_keys" and column == "key"):
                    continue
                elif column == "reference":
                    shown[column] = "numbered"
                elif table == "audit_log" and column == "subject_ids":
                    shown[column] = {
                        name: [number(SUBJECTS[name], i) for i in ids]
                        if isinstance(ids, list)
                        else number(SUBJECTS[name], ids)
                        for name, ids in value.items()
                    }
                else:
                    shown[column] = value
            found[table].append(shown)
    return found


def shown(answer: httpx.Response) -> Any:
    """The answer with the referral's id, reference and time replaced by whether they look right."""
    body = answer.json()
    result = (body.get("data") or {}).get("createReferral")
    if isinstance(result, dict) and isinstance(result.get("referral"), dict):
        referral = result["referral"]
        assert re.fullmatch(r"REF-\d{4}-\d{6,}", referral["reference"]), referral
        assert referral["reference"].endswith(f"{int(referral['id']):06d}")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00", referral["createdAt"])
        result["referral"] = {**referral, "id": "id", "reference": "reference", "createdAt": "createdAt"}
    return body


async def both(paths: Paths, role: str, variables: dict[str, Any]) -> tuple[Any, int]:
    """The same input through the resolvers, then through the compiled app (each with a fresh key): the answers and
    the rows each wrote must be the same. Returns the compiled answer and whether the statement answered it."""
    by_resolvers_input = copy.deepcopy(variables)
    by_resolvers_input["input"]["idempotencyKey"] = key()
    before = await marks(paths.settings)
    by_resolvers = await ask(paths.resolvers, paths.tokens[role], CREATE, by_resolvers_input)
    middle = await marks(paths.settings)
    answered = paths.compiled_reads.answered
    compiled = await ask(paths.compiled, paths.tokens[role], CREATE, variables)
    after = await marks(paths.settings)
    assert compiled.status_code == by_resolvers.status_code, (compiled.text, by_resolvers.text)
    assert shown(compiled) == shown(by_resolvers), variables
    assert await written(paths.settings, middle, after) == await written(paths.settings, before, middle), variables
    return compiled.json(), paths.compiled_reads.answered - answered


# -- generated inputs --------------------------------------------------------------------------------------------


@st.composite
def inputs(draw: st.DrawFn) -> dict[str, Any]:
    providers = draw(st.lists(st.sampled_from(PROVIDERS), max_size=3))
    if providers and draw(st.integers(0, 9)) == 0:
        providers.append(providers[0])  # a provider twice: refused
    age = draw(st.sampled_from([9, 15, 17, 34, 70]))
    needs = draw(st.lists(st.sampled_from([n.value for n in Need]), min_size=0, max_size=4, unique=True))
    crime = draw(st.sampled_from([c.value for c in CrimeCategory]))
    consent_providers = draw(st.lists(st.sampled_from(PROVIDERS[:5]), max_size=3, unique=True))
    value = referral_input(providers=providers, consent_providers=consent_providers, age=age, needs=needs, crime=crime)
    victim, case, consent = value["victim"], value["case"], value["consents"][0]
    for optional in ("address", "postcode", "phone", "email", "language", "safeContact", "dateOfBirth"):
        if draw(st.integers(0, 3)) == 0:
            victim.pop(optional)
    if draw(st.integers(0, 4)) == 0:
        victim["equality"] = {"ageBand": "FROM_25_TO_34", "sex": "PREFER_NOT_TO_SAY", "ethnicity": "Other"}
    if draw(st.integers(0, 9)) == 0:
        victim["familyName"] = "x" * 101  # over its bound
    if draw(st.integers(0, 9)) == 0:
        victim["givenName"] = "   "  # blank once trimmed
    if crime == "domestic-abuse" and draw(st.booleans()):
        case["domesticAbuseRisk"] = "HIGH"
    if draw(st.integers(0, 9)) == 0:
        case["reportedToPolice"] = False  # with a crime reference: refused
    case["priorityMostSeriousCrime"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        case["assessmentNotes"] = "Prefers afternoon calls."
    if draw(st.integers(0, 9)) == 0:
        consent["givenAt"] = "2099-01-01T00:00:00+00:00"  # in the future: refused
    if draw(st.integers(0, 4)) == 0:
        consent["expiresAt"] = "2027-06-30T12:00:00+00:00"
        consent["withheldInformation"] = "The address"
        consent["withheldReason"] = "Moving soon"
    consents = draw(
        st.sampled_from([[], [consent], [consent, {**consent, "method": "WRITTEN", "providers": PROVIDERS[:2]}]])
    )
    value["consents"] = consents
    return {"input": value}


@COMPARE
@given(data=st.data())
async def test_the_compiled_create_writes_what_the_resolvers_write(paths: Paths, data: st.DataObject) -> None:
    role = data.draw(st.sampled_from(["hub", "coordinator"]))
    variables = data.draw(inputs())
    answer, answered = await both(paths, role, variables)
    created = answer["data"]["createReferral"]["__typename"] == "ReferralPayload"
    # Every accepted input was the statement's to write; every refusal was the resolvers' to word.
    assert answered == int(created), (answer, variables)


async def test_the_generated_inputs_reach_both_outcomes(paths: Paths) -> None:
    """The comparison above means something only if both the statement and the resolvers answered some inputs."""
    accepted = referral_input(providers=["cpn", "rj-hub"], needs=["mental-health", "restorative-justice-interest"])
    answer, answered = await both(paths, "hub", {"input": accepted})
    assert answer["data"]["createReferral"]["__typename"] == "ReferralPayload" and answered == 1
    refused = referral_input(providers=["road-victims-trust"])
    answer, answered = await both(paths, "hub", {"input": refused})
    assert answer["data"]["createReferral"]["code"] == "validation" and answered == 0


# -- what the statement must get right on its own -----------------------------------------------------------------


def _accepted(idempotency_key: str) -> dict[str, Any]:
    return {
        "input": referral_input(
            providers=["cpn", "rj-hub"],
            idempotency_key=idempotency_key,
            needs=["mental-health", "restorative-justice-interest"],
        )
    }


async def test_a_replayed_key_returns_the_first_referral_and_a_reused_one_is_refused(paths: Paths) -> None:
    retry_key = key()
    first = await ask(paths.compiled, paths.tokens["hub"], CREATE, _accepted(retry_key))
    before = await marks(paths.settings)
    answered = paths.compiled_reads.answered
    again = await ask(paths.compiled, paths.tokens["hub"], CREATE, _accepted(retry_key))
    assert again.json() == first.json()
    different = _accepted(retry_key)
    different["input"]["victim"]["givenName"] = "Someone else"
    reused = await ask(paths.compiled, paths.tokens["hub"], CREATE, different)
    assert reused.json()["data"]["createReferral"]["code"] == "idempotency-key-reused"
    assert paths.compiled_reads.answered == answered  # the resolvers answered both
    after = await written(paths.settings, before)
    assert all(not rows for table, rows in after.items() if table != "audit_log"), after
    # The replay read the referral back: logged as a read, not as a second collection.
    assert all(row["action"] != "referral.create" for row in after["audit_log"])


async def test_many_retries_of_one_key_at_once_make_one_referral(paths: Paths) -> None:
    retry_key = key()
    before = await marks(paths.settings)
    answers = await asyncio.gather(
        *(ask(paths.compiled, paths.tokens["hub"], CREATE, _accepted(retry_key)) for _ in range(8))
    )
    ids = {answer.json()["data"]["createReferral"]["referral"]["id"] for answer in answers}
    assert len(ids) == 1, [a.text for a in answers]
    rows = await written(paths.settings, before)
    assert len(rows["referrals"]) == 1 and len(rows["referral_tasks"]) == 2 and len(rows["idempotency_keys"]) == 1
    assert [row["action"] for row in rows["audit_log"]].count("referral.create") == 1


@pytest.mark.parametrize(
    "withdraw",
    [
        "revoke",
        "UPDATE users SET roles = '[\"data-protection-officer\"]' WHERE email = 'coordinator@hub.test'",
        "UPDATE users SET active = false WHERE email = 'coordinator@hub.test'",
        "UPDATE organisations SET roles = '[\"provider\"]' WHERE slug = 'hub'",
    ],
)
async def test_a_refused_caller_writes_nothing_on_the_very_next_request(paths: Paths, withdraw: str) -> None:
    token = paths.tokens["coordinator"]
    first = await ask(paths.compiled, token, CREATE, _accepted(key()))
    assert first.json()["data"]["createReferral"]["__typename"] == "ReferralPayload"
    if withdraw == "revoke":
        await sql(paths.settings, "UPDATE issued_tokens SET revoked_at = now()")
    else:
        await sql(paths.settings, withdraw)
    before = await marks(paths.settings)
    answered = paths.compiled_reads.answered
    refused = await ask(paths.compiled, token, CREATE, _accepted(key()))
    assert paths.compiled_reads.answered == answered
    assert (refused.json().get("data") or {}).get("createReferral", {}).get("__typename") != "ReferralPayload"
    rows = await written(paths.settings, before)
    assert not any(rows[table] for table in TABLES if table != "audit_log"), rows
    assert not any(row["action"] == "referral.create" for row in rows["audit_log"])


async def test_the_statements_audit_rows_are_sealed_in_order(paths: Paths) -> None:
    await asyncio.gather(*(ask(paths.compiled, paths.tokens["hub"], CREATE, _accepted(key())) for _ in range(12)))
    engine = create_engine(paths.settings.database_url)
    try:
        await seal_until_done(engine)
        async with create_session_factory(engine)() as db:
            report = await verify_report(db)
    finally:
        await engine.dispose()
    assert report.broken_at is None and report.unsealed == 0 and report.sealed >= 12
