"""The world tests/graphql/test_compiled_hub.py compares the two paths on, and how it asks and compares: referrals in
every state the Hub's view shows differently, callers' tokens (a signed-in person's among them), the audit rows a
request wrote, and a relay that takes PostgreSQL away from the compiled path's pool and brings it back."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

from gateway.auth import service as auth
from gateway.db import create_engine, create_session_factory
from gateway.graphql.compiled import CompiledReads
from gateway.settings import Settings
from tests.support.api import CREATE_REFERRAL, SEND_TASK, Gateway, key, referral_input, sent_task
from tests.support.auth import REDIRECT_URI, authorize_params, pkce_pair, sign_in

PASSWORD = "a password for the co-ordinator"
WITHDRAW = """mutation($i: WithdrawConsentInput!) { withdrawConsent(input: $i) { __typename } }"""
ATTEMPT = """mutation($i: RecordContactAttemptInput!) {
  recordContactAttempt(input: $i) { __typename ... on OperationError { code message } } }"""
ACCEPT = """mutation($i: TaskChangeInput!) {
  acceptTask(input: $i) { __typename ... on TaskPayload { task { version } } } }"""
RECORD_CONSENT = """mutation($i: RecordConsentInput!) {
  recordConsent(input: $i) { __typename ... on OperationError { code message } } }"""


@dataclass(frozen=True)
class Paths:
    compiled: httpx.AsyncClient
    resolvers: httpx.AsyncClient
    compiled_reads: CompiledReads
    settings: Settings
    tokens: dict[str, str] = field(repr=False)
    referral_ids: tuple[int, ...]
    cursors: tuple[str, ...]


async def sql(settings: Settings, *statements: str) -> list[Any]:
    engine = create_engine(settings.database_url)
    found: list[Any] = []
    try:
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.exec_driver_sql(statement)
                if result.returns_rows:
                    found.extend(result.all())
    finally:
        await engine.dispose()
    return found


async def ok(gateway: Gateway, document: str, variables: dict[str, Any], expect: str) -> Any:
    answer = await gateway.gql("hub", document, variables)
    payload = next(iter(answer["data"].values()))
    assert payload["__typename"] == expect, answer
    return payload


async def build_world(gateway: Gateway) -> list[int]:
    """Referrals in every state the Hub's view shows differently; their ids (and two no referral has)."""
    normal, withdrawn, override, in_error, other, not_our_victim = [await sent_task(gateway, "cpn") for _ in range(6)]
    child = await sent_task(gateway, "family-action", age=12)
    # A young victim's referral to three providers: one task sent and accepted, with a contact attempt; one sent;
    # one left a draft.
    created = await gateway.gql(
        "hub",
        CREATE_REFERRAL,
        {
            "input": referral_input(
                providers=["family-action", "rape-crisis", "rj-hub"],
                age=15,
                crime="sexual-offence",
                needs=["restorative-justice-interest", "emotional"],
            )
        },
    )
    several = created["data"]["createReferral"]["referral"]
    sent_versions = {}
    for task in several["tasks"][:2]:
        variables = {"input": {"taskId": task["id"], "expectedVersion": task["version"], "idempotencyKey": key()}}
        sent_versions[task["id"]] = (await ok(gateway, SEND_TASK, variables, "TaskPayload"))["task"]["version"]
    first = several["tasks"][0]
    accepted = await gateway.gql(
        first["provider"],
        ACCEPT,
        {"i": {"taskId": first["id"], "expectedVersion": sent_versions[first["id"]], "idempotencyKey": key()}},
    )
    assert accepted["data"]["acceptTask"]["__typename"] == "TaskPayload", accepted
    attempt = {"taskId": first["id"], "attemptedAt": datetime.now(UTC).isoformat(), "method": "PHONE"}
    recorded = await gateway.gql(
        first["provider"], ATTEMPT, {"i": attempt | {"result": "NO_ANSWER", "idempotencyKey": key()}}
    )
    assert recorded["data"]["recordContactAttempt"]["__typename"] == "ContactAttemptPayload", recorded

    await ok(gateway, WITHDRAW, {"i": {"consentId": withdrawn.consent_id, "idempotencyKey": key()}}, "ConsentPayload")
    second_consent = {
        "givenBy": "VICTIM",
        "method": "WRITTEN",
        "givenAt": "2026-11-25T09:15:30.123456+00:00",
        "providers": ["cpn"],
        "dataCategories": ["NAME", "PHONE"],
        "statisticsConsent": False,
        "withheldInformation": 'Does not want "family" told',
        "withheldReason": "risk",
        "expiresAt": "2027-11-25T00:00:00+00:00",
    }
    variables = {"i": {"referralId": normal.referral_id, "consent": second_consent, "idempotencyKey": key()}}
    await ok(gateway, RECORD_CONSENT, variables, "ConsentPayload")
    rj_hub = "(SELECT id FROM organisations WHERE slug = 'rj-hub')"
    await sql(
        gateway.world.settings,
        f"UPDATE referral_tasks SET safeguarding_override = true WHERE id = {int(override.task_id)}",
        f"UPDATE referral_tasks SET status = 'entered-in-error' WHERE id = {int(in_error.task_id)}",
        "UPDATE referral_tasks SET accept_due_at = now() - interval '2 hours'"
        f" WHERE id = {int(several['tasks'][1]['id'])}",
        # Another organisation's referral, with everything behind it.
        f"UPDATE referrals SET hub_organisation_id = {rj_hub} WHERE id = {int(other.referral_id)}",
        f"UPDATE referral_tasks SET hub_organisation_id = {rj_hub} WHERE referral_id = {int(other.referral_id)}",
        f"UPDATE victims SET hub_organisation_id = {rj_hub}"
        f" WHERE id = (SELECT victim_id FROM referrals WHERE id = {int(other.referral_id)})",
        f"UPDATE consents SET hub_organisation_id = {rj_hub}"
        f" WHERE victim_id = (SELECT victim_id FROM referrals WHERE id = {int(other.referral_id)})",
        # The Hub's referral, whose victim record (and consents) another organisation holds.
        f"UPDATE victims SET hub_organisation_id = {rj_hub}"
        f" WHERE id = (SELECT victim_id FROM referrals WHERE id = {int(not_our_victim.referral_id)})",
        f"UPDATE consents SET hub_organisation_id = {rj_hub}"
        f" WHERE victim_id = (SELECT victim_id FROM referrals WHERE id = {int(not_our_victim.referral_id)})",
        f"UPDATE referrals SET created_at = date_trunc('second', created_at) WHERE id = {int(normal.referral_id)}",
        "UPDATE cases SET priority_most_serious_crime = true, assessment_notes = 'Notes \"quoted\"\n\\ and ünïcode',"
        " crime_reference = NULL"
        f" WHERE id = (SELECT case_id FROM referrals WHERE id = {int(normal.referral_id)})",
        f"UPDATE victims SET guardian_name = '', guardian_phone = NULL, guardian_email = 'g@example.org'"
        f" WHERE id = (SELECT victim_id FROM referrals WHERE id = {int(withdrawn.referral_id)})",
    )
    made = (normal, withdrawn, override, in_error, other, not_our_victim, child)
    return sorted({int(t.referral_id) for t in made} | {int(several["id"])})


async def add(settings: Settings, **what: Any) -> Any:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            if "email" in what:
                return (await auth.add_user(db=db, **what))[0]
            return await auth.add_client(db=db, **what)
    finally:
        await engine.dispose()


async def client_token(http: httpx.AsyncClient, client_id: str, secret: str) -> str:
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def person_token(
    http: httpx.AsyncClient, settings: Settings, *, email: str, roles: list[str], scope: str, organisation: str = "hub"
) -> str:
    """A signed-in person's access token (authorization code with PKCE, through the gateway's own sign-in)."""
    await add(settings, organisation_slug=organisation, email=email, roles=roles, password=PASSWORD)
    tool = await add(
        settings, organisation_slug=organisation, name=f"tool {email}", scopes=scope, redirect_uris=[REDIRECT_URI]
    )
    verifier, challenge = pkce_pair()
    signed_in = await sign_in(http, authorize_params(tool.client.client_id, challenge, scope=scope), email, PASSWORD)
    assert signed_in.status_code == 302, signed_in.text
    code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
    exchanged = await http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(tool.client.client_id, tool.secret),
    )
    assert exchanged.status_code == 200, exchanged.text
    return str(exchanged.json()["access_token"])


def canonical(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


async def audit_rows(settings: Settings, after_id: int) -> tuple[int, Counter[tuple[Any, ...]]]:
    rows = await sql(
        settings,
        "SELECT id, category, action, purpose, actor_organisation_id, actor, victim_id, subject_ids::text,"
        f" recipient_organisation_id, safeguarding_override FROM audit_log WHERE id > {int(after_id)} ORDER BY id",
    )
    last = max([after_id, *(row[0] for row in rows)])
    found: Counter[tuple[Any, ...]] = Counter(
        (*row[1:7], canonical(orjson.loads(row[7])) if row[7] else None, *row[8:]) for row in rows
    )
    return last, found


async def ask(http: httpx.AsyncClient, token: str, document: str, variables: dict[str, Any]) -> httpx.Response:
    body = {"query": document, "variables": variables}
    return await http.post("/graphql", json=body, headers={"authorization": f"Bearer {token}"})


class Relay:
    """A TCP relay in front of PostgreSQL that the test can take down and bring back: the database as the compiled
    path's pool sees it when the server, or the network to it, goes away."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Refuse new connections and cut every open one, as a stopped server would."""
        assert self._server is not None
        self._server.close()
        for writer in self._open:
            writer.transport.abort()
        self._open.clear()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._open += [writer, upstream_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
