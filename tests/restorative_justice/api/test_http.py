"""RJ over HTTP with real tokens: who may reach RJ cases, and the facilitator's calendar feed.

The co-ordinator, the Hub and the providers are machine clients with tokens from the gateway's own OAuth server.
Facilitators sign in as people; their scoping (A cannot see B's cases) is proved at the service layer in
test_access.py, and here the feed is reached the way a calendar client reaches it: by URL, with no header.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import httpx
from icalendar import Calendar
from sqlmodel import col, select

from gateway.auth import service as auth
from gateway.auth.models import User
from gateway.auth.principal import Principal, Role, Scope
from gateway.clock import utc_now
from gateway.consent.models import ConsentMethod
from gateway.db import create_engine, create_session_factory
from gateway.organisations.models import Organisation
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import AccreditationLevel, CaseSource, HomeAgency, PartyRole, RiskLevel
from providers.profile import CrimeCategory
from tests.support.api import ApiWorld, Gateway, key, sent_task

ACCEPT = """mutation($i: TaskChangeInput!) { acceptTask(input: $i) {
  __typename ... on TaskPayload { task { id status version } } ... on OperationError { code } } }"""
FROM_TASK = """mutation($i: CreateRjCaseFromTaskInput!) { createRjCaseFromTask(input: $i) {
  __typename ... on RjCasePayload { case { id reference stage source } } ... on OperationError { code } } }"""
RJ_CASES = "{ rjCases { items { id reference stage } } }"
TASK = "query($id: ID!) { task(id: $id) { id status } }"
HARMED = ("Philippa", "Quennell-Oyelaran")
RESPONSIBLE = ("Tobias", "Wrenfield-Achterberg")


async def _rj_coordinator_token(http: httpx.AsyncClient, world: ApiWorld) -> str:
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            created = await auth.add_client(
                db=db, organisation_slug="rj-hub", name="rj-coordinator", scopes="tasks:read tasks:write rj:manage"
            )
    finally:
        await engine.dispose()
    assert created.secret is not None
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(created.client.client_id, created.secret)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def _as(http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_authorisation_matrix_for_rj_cases_over_http(
    gateway: Gateway, client: httpx.AsyncClient, world: ApiWorld
) -> None:
    # Given the Hub sent an RJ task that the RJ hub accepted
    sent = await sent_task(gateway, "rj-hub", needs=["restorative-justice-interest"])
    accepted = await gateway.gql(
        "rj-hub", ACCEPT, {"i": {"taskId": sent.task_id, "expectedVersion": sent.version, "idempotencyKey": key()}}
    )
    assert accepted["data"]["acceptTask"]["task"]["status"] == "ACCEPTED"
    coordinator = await _rj_coordinator_token(client, world)

    # A provider other than the RJ hub cannot open an RJ case, even from the RJ task's id, nor list RJ cases
    for role in ("cpn", "rape-crisis", "rj-hub", "hub", "commissioner"):
        opened = await gateway.gql(role, FROM_TASK, {"i": {"taskId": sent.task_id, "idempotencyKey": key()}})
        assert opened["data"] is None and opened["errors"][0]["extensions"]["code"] == "forbidden", role
        listed = await gateway.gql(role, RJ_CASES)
        assert listed["data"] is None and listed["errors"][0]["extensions"]["code"] == "forbidden", role

    # The RJ co-ordinator opens one case from it, with a reference that holds no personal data
    opened = await _as(client, coordinator, FROM_TASK, {"i": {"taskId": sent.task_id, "idempotencyKey": key()}})
    case = opened["data"]["createRjCaseFromTask"]["case"]
    assert re.fullmatch(r"RJ-\d{4}-\d{6}", case["reference"])
    assert (case["stage"], case["source"]) == ("REFERRAL_RECEIVED", "HUB_TASK")
    again = await _as(client, coordinator, FROM_TASK, {"i": {"taskId": sent.task_id, "idempotencyKey": key()}})
    assert again["data"]["createRjCaseFromTask"] == {"__typename": "OperationError", "code": "conflict"}

    # The co-ordinator sees every RJ case
    listed = await _as(client, coordinator, RJ_CASES)
    assert listed["data"]["rjCases"]["items"] == [
        {"id": case["id"], "reference": case["reference"], "stage": "REFERRAL_RECEIVED"}
    ]
    # The Hub sees only the status of the task it sent, and a provider never sees another's task
    assert (await gateway.gql("hub", TASK, {"id": sent.task_id}))["data"]["task"] == {
        "id": sent.task_id,
        "status": "ACCEPTED",
    }
    assert (await gateway.gql("cpn", TASK, {"id": sent.task_id}))["data"]["task"] is None
    # And no one else reaches the case's detail
    detail = "query($id: ID!) { rjCase(id: $id) { case { reference } parties { givenName } } }"
    for role in ("cpn", "hub", "rj-hub"):
        body = await gateway.gql(role, detail, {"id": case["id"]})
        assert body["data"] == {"rjCase": None} and body["errors"][0]["extensions"]["code"] == "forbidden", role


async def _feed_world(world: ApiWorld) -> tuple[str, str, str]:
    """A facilitator with a conference between two named parties; returns (feed token, case reference, old token)."""
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            hub = (await db.exec(select(Organisation).where(col(Organisation.slug) == "rj-hub"))).one()
            assert hub.id is not None
            manager = Principal(
                organisation_id=hub.id, organisation_slug="rj-hub", scopes=frozenset({Scope.RJ_MANAGE}), client_id="t"
            )
            user = User(organisation_id=hub.id, email="f@rj.example", password_hash="!", roles=[Role.RJ_FACILITATOR])
            db.add(user)
            await db.flush()
            assert user.id is not None
            facilitator = await rj.register_facilitator(
                db=db,
                actor=manager,
                user_id=user.id,
                home_agency=HomeAgency.YOUTH_JUSTICE_SERVICE,
                accreditation_level=AccreditationLevel.PRACTITIONER,
                accreditation_expires_on=utc_now().date() + timedelta(days=365),
                idempotency_key=key(),
            )
            assert facilitator.id is not None
            case = await rj.create_direct_case(
                db=db,
                actor=manager,
                source=CaseSource.SELF_REFERRAL,
                crime_category=CrimeCategory.CRIMINAL_DAMAGE,
                idempotency_key=key(),
            )
            assert case.id is not None
            party_ids = []
            for role, (given, family) in ((PartyRole.HARMED, HARMED), (PartyRole.RESPONSIBLE, RESPONSIBLE)):
                party = await rj.add_party(
                    db=db,
                    actor=manager,
                    case_id=case.id,
                    party=rj.PartyInput(role=role, given_name=given, family_name=family),
                    idempotency_key=key(),
                )
                assert party.id is not None
                await rj.record_party_consent(
                    db=db,
                    actor=manager,
                    party_id=party.id,
                    method=ConsentMethod.WRITTEN,
                    willing=True,
                    idempotency_key=key(),
                )
                party_ids.append(party.id)
            await rj.assign_facilitators(
                db=db,
                actor=manager,
                case_id=case.id,
                lead_facilitator_id=facilitator.id,
                co_facilitator_id=None,
                idempotency_key=key(),
            )
            coordinator = Principal(
                organisation_id=hub.id,
                organisation_slug="rj-hub",
                scopes=frozenset({Scope.RJ_MANAGE}),
                roles=frozenset({Role.RJ_COORDINATOR}),
                user_id=999,
            )
            await rj.record_initial_contact(
                db=db, actor=coordinator, case_id=case.id, contacted_at=utc_now(), idempotency_key=key()
            )
            await rj.record_assessment(
                db=db,
                actor=coordinator,
                case_id=case.id,
                suitable=True,
                risk_level=RiskLevel.LOW,
                idempotency_key=key(),
            )
            for party_id in party_ids:
                await rj.record_preparation_meeting(
                    db=db,
                    actor=coordinator,
                    case_id=case.id,
                    party_id=party_id,
                    held_at=utc_now(),
                    idempotency_key=key(),
                )
            await rj.schedule_conference(
                db=db,
                actor=manager,
                case_id=case.id,
                booking=rj.ConferenceBooking(
                    starts_at=utc_now() + timedelta(days=3),
                    duration_minutes=90,
                    venue=f"{HARMED[1]} family home",  # the kind of venue that must never reach a calendar
                    video_call=False,
                    party_ids=frozenset(party_ids),
                ),
                idempotency_key=key(),
            )
            old = await rj.rotate_feed_token(db=db, actor=manager, facilitator_id=facilitator.id)
            current = await rj.rotate_feed_token(db=db, actor=manager, facilitator_id=facilitator.id)
            return current.token, case.reference, old.token
    finally:
        await engine.dispose()


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_the_calendar_feed_parses_names_no_one_and_hides_behind_404(
    client: httpx.AsyncClient, world: ApiWorld
) -> None:
    # Given a facilitator's conference between two named parties at a venue named after one of them
    token, reference, old_token = await _feed_world(world)
    captured = _Captured()
    access_log = logging.getLogger("gateway.access")
    access_log.addHandler(captured)
    try:
        # When a calendar client fetches the feed with the current token
        response = await client.get("/rj/calendar.ics", params={"token": token})
    finally:
        access_log.removeHandler(captured)

    # Then it is an iCalendar document a standard parser reads, titled by the case reference
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "private, no-store"
    calendar = Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    assert [str(e["SUMMARY"]) for e in events] == [f"RJ conference {reference}"]
    assert [str(e["LOCATION"]) for e in events] == ["Venue in the gateway"]
    # And no party's name appears anywhere in it
    text = response.content.decode()
    for name in (*HARMED, *RESPONSIBLE):
        assert name not in text
        assert name.lower() not in text.lower()
    # And the access log recorded the path, never the token
    assert [r.__dict__.get("path") for r in captured.records] == ["/rj/calendar.ics"]
    assert all(token not in repr(r.__dict__) for r in captured.records)

    # A wrong, old, empty or absent token gets a 404, the same as a feed that does not exist
    for params in ({"token": token[:-1] + ("A" if token[-1] != "A" else "B")}, {"token": old_token}, {"token": ""}, {}):
        refused = await client.get("/rj/calendar.ics", params=params)
        assert (refused.status_code, refused.json()) == (404, {"error": "not-found", "message": "Not found."}), params
