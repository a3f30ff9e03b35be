"""Trusted documents: operations registered ahead by their SHA-256, run by `documentId` or an APQ hash, and with
GATEWAY_TRUSTED_DOCUMENTS_ONLY the only operations run.

Registered by the real `gateway documents` command and by the service, run through the real app with real tokens,
on SQLite and PostgreSQL. Every refusal is checked for what it does not do as well: nothing runs, no row is written,
and no message repeats the document's text.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import DocumentNode
from graphql.language.parser import Parser
from sqlmodel import func, select
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.app import create_app
from gateway.audit.models import AuditEntry
from gateway.db import create_engine, create_session_factory
from gateway.graphql import trusted, trusted_registry, validation
from gateway.graphql.surface import MAX_TOKENS
from gateway.graphql.trusted import DocumentRules
from gateway.graphql.trusted_models import MAX_DOCUMENT_BYTES, TrustedDocumentRow
from gateway.graphql.trusted_refusals import DocumentRefused
from gateway.graphql.trusted_registry import Submission
from gateway.graphql.view import GatewayGraphQL
from gateway.referrals.models import Referral
from gateway.schema import build_schema
from gateway.settings import Settings
from tests.support.api import (
    CREATE_REFERRAL,
    ISSUER,
    ApiWorld,
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    make_settings,
    referral_input,
    sent_task,
    world,
)
from tests.support.loopback import served

__all__ = ["api_templates", "client", "database_url", "gateway", "world"]

REPOSITORY = Path(__file__).resolve().parents[2]
TASK = "query Task($id: ID!) { task(id: $id) { id status } }"
# On PostgreSQL the inbox is answered by its compiled statement, which reads the body before Strawberry does.
INBOX = "query Inbox { inbox(first: 5) { items { id status } } }"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Revocations seen on the very next request, so the tests need not wait for a refresh.
    return make_settings(database_url).model_copy(update={"trusted_documents_refresh_seconds": 0.0})


@cache
def rules() -> DocumentRules:
    return DocumentRules(build_schema()._schema, production=False, max_tokens=MAX_TOKENS)


def document_id(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


async def register(database_url: str, *texts: str, client_id: str | None = None) -> list[str]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            rows = await trusted_registry.register_documents(
                db=db, rules=rules(), submissions=[Submission(text) for text in texts], client_id=client_id
            )
    finally:
        await engine.dispose()
    return [trusted.PREFIX + row.id for row in rows]


async def revoke(database_url: str, document: str) -> None:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            await trusted_registry.revoke_document(db=db, document_id=document)
    finally:
        await engine.dispose()


async def stored(database_url: str) -> tuple[int, int, int]:
    """Referrals, audit rows and trusted documents in the database."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as db:
            found = []
            for model in (Referral, AuditEntry, TrustedDocumentRow):
                found.append(int((await db.exec(select(func.count()).select_from(model))).one()))
    finally:
        await engine.dispose()
    return found[0], found[1], found[2]


async def post(gateway: Gateway, role: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {await gateway.token(role)}"} if role else {}
    return await gateway.http.post("/graphql", json=body, headers=headers)


def refusal(response: httpx.Response) -> str:
    """The refusal's code, checked to be the same in the gateway's shape and in the GraphQL error."""
    body = response.json()
    assert body["errors"] == [{"message": body["message"], "extensions": {"code": body["error"]}}], body
    assert "data" not in body
    return str(body["error"])


@contextlib.asynccontextmanager
async def gateway_with(world: ApiWorld, **changes: object) -> AsyncIterator[Gateway]:
    """A second app on the same database, with these settings changed."""
    app = create_app(world.settings.model_copy(update=changes))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
            yield Gateway(http, world)
    finally:
        compiled = getattr(app.state, "compiled_reads", None)
        if compiled is not None:
            await compiled.close()
        await app.state.engine.dispose()


def gateway_command(*argv: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_ENV": "development"}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *argv],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        check=False,
    )


async def test_a_document_registered_by_the_command_runs_by_its_id_and_by_its_apq_hash(
    gateway: Gateway, database_url: str, tmp_path: Path
) -> None:
    # Given a task sent to CPN, and its query registered from a file by `gateway documents register`
    task = await sent_task(gateway, "cpn")
    (tmp_path / "task.graphql").write_text(TASK + "\n")
    registered = gateway_command(
        "documents", "register", str(tmp_path / "task.graphql"), database_url=database_url, cwd=REPOSITORY
    )
    listed = gateway_command("documents", "list", database_url=database_url, cwd=REPOSITORY)
    # The id is the hash of the file's bytes, trailing newline and all: what the client sends.
    expected = document_id(TASK + "\n")
    assert (registered.returncode, registered.stdout) == (0, expected + "\n"), registered.stderr
    assert listed.stdout.split() == [expected, "*", "live", listed.stdout.split()[3], "Task"]

    # When CPN runs it by `documentId`, by Apollo's persisted-query hash, and by sending its text
    by_id = await post(gateway, "cpn", {"documentId": expected, "variables": {"id": task.task_id}})
    apq = {"persistedQuery": {"version": 1, "sha256Hash": expected.removeprefix("sha256:")}}
    by_hash = await post(gateway, "cpn", {"extensions": apq, "variables": {"id": task.task_id}})
    by_text = await post(
        gateway, "cpn", {"query": TASK + "\n", "documentId": expected, "variables": {"id": task.task_id}}
    )

    # Then each answers the task, as the same query sent in full does
    answer = {"data": {"task": {"id": task.task_id, "status": "REQUESTED"}}}
    assert [by_id.json(), by_hash.json(), by_text.json()] == [answer] * 3
    assert await gateway.gql("cpn", TASK, {"id": task.task_id}) == answer

    # And once `gateway documents revoke` has run, the running server refuses the id
    revoked = gateway_command("documents", "revoke", expected, database_url=database_url, cwd=REPOSITORY)
    assert (revoked.returncode, revoked.stdout) == (0, f"revoked {expected}\n"), revoked.stderr
    after = await post(gateway, "cpn", {"documentId": expected, "variables": {"id": task.task_id}})
    assert (after.status_code, refusal(after)) == (400, "document-not-found")


async def test_a_manifest_registers_every_document_or_none(gateway: Gateway, database_url: str, tmp_path: Path) -> None:
    good = "query Providers { providers { slug } }"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(f'{{"{document_id(good)}": "{good}", "{"0" * 64}": "{{ providers {{ slug }} }}"}}')

    mismatched = gateway_command(
        "documents", "register", "--manifest", str(manifest), database_url=database_url, cwd=REPOSITORY
    )
    manifest.write_text(f'{{"{document_id(good).removeprefix("sha256:")}": "{good}"}}')
    accepted = gateway_command(
        "documents", "register", "--manifest", str(manifest), database_url=database_url, cwd=REPOSITORY
    )

    assert mismatched.returncode == 1 and "document-id-mismatch" in mismatched.stderr
    assert "providers" not in mismatched.stderr
    assert (accepted.returncode, accepted.stdout) == (0, document_id(good) + "\n"), accepted.stderr
    assert (await stored(database_url))[2] == 1
    ran = await post(gateway, None, {"documentId": document_id(good)})
    assert ran.status_code == 200 and len(ran.json()["data"]["providers"]) == 5


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ('{ providers { slug } "MARK" }', "validation"),  # a syntax error
        ('query { providers(MARK: "MARK") { slug } }', "validation"),  # an unknown argument
        ("{ providers { slug MARK } }", "validation"),  # an unknown field
        ("query MARK($unused: String) { providers { slug } }", "validation"),  # an unused variable
        ("{ " + " ".join(f"a{i}: providers {{ slug }}" for i in range(16)) + " } # MARK", "too-many-aliases"),
        ("# MARK\n{ providers { " + "slug " * 1000 + "} }", "too-many-tokens"),
        ('{ providers { slug } } # "MARK"' + " " * MAX_DOCUMENT_BYTES, "document-too-large"),
        (
            "{ "
            + " ".join(
                f"{a}: referrals(first: 100) {{ items {{ tasks {{ contactAttempts {{ id }} provider }} }} }}"
                for a in "abc"
            )
            + ' } # "MARK"',
            "query-too-expensive",
        ),
    ],
)
async def test_registration_refuses_an_invalid_document_with_a_stable_code_and_without_its_text(
    database_url: str, document: str, code: str
) -> None:
    mark = "Zq" + uuid.uuid4().hex[:10]
    with pytest.raises(DocumentRefused) as refused:
        await register(database_url, "query Fine { providers { slug } }", document.replace("MARK", mark))

    assert refused.value.code == code
    assert mark not in refused.value.message and "providers" not in refused.value.message
    # All or none: the valid document beside it is not registered either.
    assert (await stored(database_url))[2] == 0


async def test_registration_for_a_client_that_does_not_exist_is_refused(database_url: str) -> None:
    with pytest.raises(DocumentRefused) as refused:
        await register(database_url, "{ providers { slug } }", client_id="no-such-client")

    assert refused.value.code == "client-not-found"
    assert (await stored(database_url))[2] == 0


async def test_an_unknown_or_revoked_id_is_refused_and_nothing_runs(
    gateway: Gateway, database_url: str, world: ApiWorld
) -> None:
    # Given createReferral registered, then revoked
    [create] = await register(database_url, CREATE_REFERRAL)
    await revoke(database_url, create)
    before = await stored(database_url)
    variables = {"input": referral_input(providers=["cpn"])}

    # When the Hub runs it by id, by its APQ hash, and runs an id never registered, and a malformed one
    revoked = await post(gateway, "hub", {"documentId": create, "variables": variables})
    revoked_apq = await post(
        gateway,
        "hub",
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": create[7:]}}, "variables": variables},
    )
    unknown = await post(gateway, "hub", {"documentId": "sha256:" + "ab" * 32, "variables": variables})
    malformed = await post(gateway, "hub", {"documentId": "md5:" + "ab" * 16, "variables": variables})

    # Then each is refused, and no referral, audit row or anything else was written
    assert [(r.status_code, refusal(r)) for r in (revoked, revoked_apq, unknown, malformed)] == [
        (400, "document-not-found"),
        (400, "document-not-found"),
        (400, "document-not-found"),
        (400, "bad-request"),
    ]
    assert await stored(database_url) == before
    # And registering it again brings it back, at once, for the running server
    assert await register(database_url, CREATE_REFERRAL) == [create]
    again = await post(gateway, "hub", {"documentId": create, "variables": variables})
    assert again.json()["data"]["createReferral"]["__typename"] == "ReferralPayload"


async def test_trusted_only_refuses_an_unregistered_query_before_any_work(
    gateway: Gateway, database_url: str, world: ApiWorld
) -> None:
    # Given a task sent to CPN while every query was accepted, and the task query registered
    task = await sent_task(gateway, "cpn")
    [registered_task, registered_inbox] = await register(database_url, TASK, INBOX)
    mark = "Zq" + uuid.uuid4().hex[:10]
    before = await stored(database_url)

    async with gateway_with(world, trusted_documents_only=True) as strict:
        # When the Hub sends an unregistered createReferral, a document that does not even parse, and the provider
        # directory (public) without a token
        create = await post(
            strict, "hub", {"query": CREATE_REFERRAL, "variables": {"input": referral_input(providers=["cpn"])}}
        )
        broken = await post(strict, "hub", {"query": f'{{ providers(x: "{mark}") {{ slug '})
        anonymous = await post(strict, None, {"query": "{ providers { slug } }"})
        inbox = await post(strict, "cpn", {"query": INBOX.replace("first: 5", "first: 6")})
        # And CPN runs the registered query by id and by its text
        by_id = await post(strict, "cpn", {"documentId": registered_task, "variables": {"id": task.task_id}})
        by_text = await post(strict, "cpn", {"query": TASK, "variables": {"id": task.task_id}})
        inbox_by_id = await post(strict, "cpn", {"documentId": registered_inbox})

    # Then the unregistered ones are refused as not trusted (the broken one too: it was never parsed) ...
    assert [(r.status_code, refusal(r)) for r in (create, broken, anonymous, inbox)] == [
        (400, "document-not-trusted")
    ] * 4
    assert mark not in broken.text
    # ... having written nothing: no referral, no audit row
    assert await stored(database_url) == before
    # And the registered query runs either way
    answer = {"data": {"task": {"id": task.task_id, "status": "REQUESTED"}}}
    assert [by_id.json(), by_text.json()] == [answer, answer]
    assert inbox_by_id.json() == {"data": {"inbox": {"items": [{"id": task.task_id, "status": "REQUESTED"}]}}}


async def test_a_document_registered_for_one_client_is_unknown_to_every_other(
    gateway: Gateway, database_url: str, world: ApiWorld
) -> None:
    # Given the task query registered for CPN's client only, and a task sent to each of two providers
    cpn_task = await sent_task(gateway, "cpn")
    other_task = await sent_task(gateway, "family-action", age=15)
    [registered_task] = await register(database_url, TASK, client_id=world.credentials["cpn"][0])

    # When CPN and Family Action run it by id, and (trusted-only) by its text
    own = await post(gateway, "cpn", {"documentId": registered_task, "variables": {"id": cpn_task.task_id}})
    other = await post(
        gateway, "family-action", {"documentId": registered_task, "variables": {"id": other_task.task_id}}
    )
    async with gateway_with(world, trusted_documents_only=True) as strict:
        other_by_text = await post(strict, "family-action", {"query": TASK, "variables": {"id": other_task.task_id}})
        own_by_text = await post(strict, "cpn", {"query": TASK, "variables": {"id": cpn_task.task_id}})

    # Then CPN's runs; to Family Action the document does not exist
    assert own.json() == {"data": {"task": {"id": cpn_task.task_id, "status": "REQUESTED"}}}
    assert own_by_text.json() == own.json()
    assert (other.status_code, refusal(other)) == (400, "document-not-found")
    assert (other_by_text.status_code, refusal(other_by_text)) == (400, "document-not-trusted")
    # And registering the same document for another client is refused while CPN's registration stands
    with pytest.raises(DocumentRefused) as refused:
        await register(database_url, TASK, client_id=world.credentials["family-action"][0])
    assert refused.value.code == "document-client-conflict"


async def test_a_query_that_does_not_hash_to_the_id_sent_with_it_is_refused(
    gateway: Gateway, database_url: str
) -> None:
    [providers] = await register(database_url, "{ providers { slug } }")
    mark = "Zq" + uuid.uuid4().hex[:10]
    other = f'{{ providers {{ slug name }} }} # "{mark}"'

    with_id = await post(gateway, None, {"query": other, "documentId": providers})
    with_hash = await post(
        gateway, None, {"query": other, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": providers[7:]}}}
    )
    id_and_hash = await post(
        gateway,
        None,
        {"documentId": providers, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
    )

    assert [(r.status_code, refusal(r)) for r in (with_id, with_hash, id_and_hash)] == [
        (400, "document-id-mismatch")
    ] * 3
    assert all(mark not in r.text for r in (with_id, with_hash, id_and_hash))


async def test_a_registered_document_is_parsed_and_validated_once_not_per_request(
    gateway: Gateway, app: Starlette, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a document nobody has sent before (so no parser cache holds it), registered, and one that is not
    unique = uuid.uuid4().hex[:12]
    text, unregistered = f"query P{unique} {{ providers {{ slug }} }}", f"query Q{unique} {{ providers {{ slug }} }}"
    [registered] = await register(database_url, text)
    parses, validations = (
        count_calls(monkeypatch, Parser, "parse_document"),
        count_calls(monkeypatch, validation, "validate"),
    )
    first = await post(gateway, None, {"documentId": registered})
    loaded = (len(parses), len(validations))
    parses.clear()
    validations.clear()

    # When it is run again by id, by its APQ hash and by its text, and the unregistered one is run
    answers = [
        await post(gateway, None, {"documentId": registered}),
        await post(gateway, None, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": registered[7:]}}}),
        await post(gateway, None, {"query": text}),
    ]
    trusted_work = (len(parses), len(validations))
    await post(gateway, None, {"query": unregistered})

    # Then loading it parsed and validated it once, running it never again; the unregistered one was parsed
    assert loaded == (1, 1)
    assert trusted_work == (0, 0)
    assert len(parses) == 1 and len(validations) == 1
    assert [a.json() for a in answers] == [first.json()] * 3
    assert len(first.json()["data"]["providers"]) == 5
    # And what a query compiler reads is that one parsed document
    view = next(route for route in app.routes if isinstance(route, Route) and route.path == "/graphql").endpoint
    assert isinstance(view, GatewayGraphQL)
    kept = view.trusted.registered(registered)
    assert kept is not None and kept.text == text and kept.document_id == registered
    assert trusted.registered(registered) is kept


async def test_a_document_the_running_schema_now_refuses_is_not_run_and_the_log_says_which(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given introspection registered in development, and a production registry (introspection refused there)
    [introspection] = await register(database_url, "query Types { __schema { types { name } } }")
    production = DocumentRules(build_schema(production=True)._schema, production=True, max_tokens=MAX_TOKENS)
    engine = create_engine(database_url)
    try:
        registry = trusted.TrustedDocuments(production, create_session_factory(engine), only=True, refresh_seconds=0.0)
        # When it is asked for twice
        with caplog.at_level(logging.WARNING, logger="gateway.graphql.trusted"):
            found = [await registry.find(introspection.removeprefix("sha256:"), None) for _ in range(2)]
    finally:
        await engine.dispose()

    # Then it is not run, and the log names it by id, with the code, once (not per request)
    assert found == [None, None]
    warnings = [r for r in caplog.records if r.name == "gateway.graphql.trusted"]
    assert [(r.getMessage(), r.__dict__["document_id"], r.__dict__["code"]) for r in warnings] == [
        ("a trusted document no longer passes validation", introspection, "validation")
    ]


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[object]:
    calls: list[object] = []
    original: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


async def test_start_up_loads_every_document_once_and_hooks_see_each_later_one(
    database_url: str, settings: Settings
) -> None:
    # Given two documents registered before the server starts, and a hook (as the query compiler adds)
    early = await register(database_url, "query A { providers { slug } }", "query B { providers { name } }")
    seen: list[tuple[str, DocumentNode]] = []
    hook = lambda document_id, document: seen.append((document_id, document))  # noqa: E731
    trusted.add_start_up_hook(hook)
    try:
        app = create_app(settings)
        # When the server starts (its lifespan runs), before any request
        with served(app) as url:
            at_start = [document_id for document_id, _ in seen]
            # And a document registered while it runs is then asked for
            [later] = await register(database_url, "query C { providers { slug name } }")
            async with httpx.AsyncClient(base_url=url) as http:
                ran = await http.post("/graphql", json={"documentId": later})
                again = await http.post("/graphql", json={"documentId": early[0]})
    finally:
        trusted.remove_start_up_hook(hook)

    # Then the hook saw both at start-up, parsed, and the later one on its first request; nothing was loaded twice
    assert sorted(at_start) == sorted(early)
    assert [document_id for document_id, _ in seen] == [*at_start, later]
    assert all(isinstance(document, DocumentNode) for _, document in seen)
    assert ran.status_code == again.status_code == 200
    assert len(ran.json()["data"]["providers"]) == 5


async def test_a_body_naming_a_document_badly_is_refused_as_a_bad_request(gateway: Gateway) -> None:
    answers = [
        await post(gateway, None, {"documentId": 7}),
        await post(gateway, None, {"documentId": "sha256:" + "AB" * 32}),
        await post(gateway, None, {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": "ab" * 32}}}),
        await post(gateway, None, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": 7}}}),
        # And what Strawberry refused before, the view still refuses in the same words
        await post(gateway, None, {"documentId": None, "query": 7}),
        await post(gateway, None, {"query": "{ providers { slug } }", "variables": []}),
        await post(gateway, None, {"query": "{ providers { slug } }", "extensions": "x"}),
        await post(gateway, None, {}),
    ]

    assert [(a.status_code, a.json()["error"]) for a in answers] == [(400, "bad-request")] * 8
    assert [a.json()["message"] for a in answers[4:]] == [
        "The GraphQL operation's `query` must be a string or null, if provided.",
        "The GraphQL operation's `variables` must be an object or null, if provided.",
        "The GraphQL operation's `extensions` must be an object or null, if provided.",
        "No GraphQL query found in the request",
    ]
