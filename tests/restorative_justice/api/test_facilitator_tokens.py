"""Facilitators sign in as people: with their own tokens from the sign-in flow, A never sees B's cases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlmodel import select

from gateway.auth import service as auth
from gateway.auth.principal import Principal, Role, Scope
from gateway.clock import utc_now
from gateway.db import create_engine, create_session_factory
from gateway.organisations.models import Organisation
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import AccreditationLevel, CaseSource, HomeAgency
from providers.profile import CrimeCategory
from tests.support.api import ApiWorld, key
from tests.support.auth import REDIRECT_URI, authorize_params, pkce_pair, sign_in

PASSWORD = "a facilitator's long password"
CASES = "{ rjCases { items { id reference } } }"
CASE = "query($id: ID!) { rjCase(id: $id) { case { reference } } }"


async def _world(world: ApiWorld) -> tuple[str, str, str]:
    """A browser client, facilitators A and B who can sign in, a case led by A: (client id, secret, case id)."""
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            rj_hub = (await db.exec(select(Organisation).where(Organisation.slug == "rj-hub"))).one()
            coordinator = Principal(
                organisation_id=rj_hub.id or 0,
                organisation_slug="rj-hub",
                scopes=frozenset({Scope.RJ_MANAGE}),
                client_id="rj-hub-system",
            )
            web = await auth.add_client(
                db=db, organisation_slug="rj-hub", name="rj web", scopes="rj:facilitate", redirect_uris=[REDIRECT_URI]
            )
            facilitators = []
            for name in ("a", "b"):
                user, _ = await auth.add_user(
                    db=db,
                    organisation_slug="rj-hub",
                    email=f"facilitator.{name}@rj.test",
                    roles=[Role.RJ_FACILITATOR.value],
                    password=PASSWORD,
                )
                facilitator = await rj.register_facilitator(
                    db=db,
                    actor=coordinator,
                    user_id=user.id or 0,
                    home_agency=HomeAgency.PROBATION_SERVICE,
                    accreditation_level=AccreditationLevel.ACCREDITED_PRACTITIONER,
                    accreditation_expires_on=utc_now().date() + timedelta(days=365),
                    idempotency_key=key(),
                )
                facilitators.append(facilitator.id or 0)
            case = await rj.create_direct_case(
                db=db,
                actor=coordinator,
                source=CaseSource.OFFICER,
                crime_category=CrimeCategory.CRIMINAL_DAMAGE,
                idempotency_key=key(),
            )
            await rj.assign_facilitators(
                db=db,
                actor=coordinator,
                case_id=case.id or 0,
                lead_facilitator_id=facilitators[0],
                co_facilitator_id=None,
                idempotency_key=key(),
            )
    finally:
        await engine.dispose()
    assert web.secret is not None
    return web.client.client_id, web.secret, str(case.id)


async def _person_token(http: httpx.AsyncClient, client_id: str, secret: str, email: str) -> str:
    verifier, challenge = pkce_pair()
    signed_in = await sign_in(http, authorize_params(client_id, challenge, scope="rj:facilitate"), email, PASSWORD)
    assert signed_in.status_code == 302, signed_in.text
    code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
    token = await http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


async def _as(http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_facilitator_a_sees_her_case_and_b_sees_nothing_of_it(client: httpx.AsyncClient, world: ApiWorld) -> None:
    client_id, secret, case_id = await _world(world)
    token_a = await _person_token(client, client_id, secret, "facilitator.a@rj.test")
    token_b = await _person_token(client, client_id, secret, "facilitator.b@rj.test")

    listed_a = await _as(client, token_a, CASES)
    listed_b = await _as(client, token_b, CASES)
    detail_a = await _as(client, token_a, CASE, {"id": case_id})
    detail_b = await _as(client, token_b, CASE, {"id": case_id})
    missing_b = await _as(client, token_b, CASE, {"id": "987654"})

    assert [item["id"] for item in listed_a["data"]["rjCases"]["items"]] == [case_id]
    assert listed_b["data"]["rjCases"]["items"] == []
    assert detail_a["data"]["rjCase"]["case"]["reference"].startswith("RJ-")
    assert detail_b["data"]["rjCase"] is None
    # Not yours and missing answer alike, so B cannot even learn that the case exists.
    assert detail_b == missing_b
