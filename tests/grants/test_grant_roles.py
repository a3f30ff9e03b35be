"""The analyst role reads, the grant manager role edits: through the API with a signed-in person's token, and
through the portal's grant pages."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from gateway.auth import service as auth_service
from gateway.db import AsyncSession
from providers.registry import get_profile
from tests.support.auth import REDIRECT_URI, authorize_params, pkce_pair, sign_in
from tests.support.portal import STAFF, browsers, client, database_url, gateway, portal_templates, settings, world

__all__ = ["browsers", "client", "database_url", "gateway", "portal_templates", "settings", "world"]

CREATE_GRANT = """
mutation($input: CreateGrantInput!) { createGrant(input: $input) {
  __typename
  ... on GrantPayload { grant { reference } }
  ... on OperationError { code } } }
"""
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')
GRANTS = "query { grants { reference amountPence } }"
GRANT_FORM = {
    "provider": "cpn",
    "reference": "PCC-2025-CPN-02",
    "amount": "90,000",
    "first-year": "2025",
    "last-year": "2025",
    "funding-source": "pcc-core",
    "services": "Adult mental health support for victims of crime",
    "target-referrals-received-per-quarter": "30",
}


def _grant_input(reference: str) -> dict[str, object]:
    return {
        "idempotencyKey": f"grant-{reference}",
        "grant": {
            "provider": "cpn",
            "reference": reference,
            "amountPence": 9_000_000,
            "firstFinancialYear": 2025,
            "lastFinancialYear": 2025,
            "fundingSource": "MOJ_VICTIMS_SERVICES_GRANT",
            "servicesFunded": ["Face-to-face visits"],
            "targets": [{"measure": "REFERRALS_RECEIVED_PER_QUARTER", "value": 30}],
        },
    }


async def _person_token(http: httpx.AsyncClient, tool: tuple[str, str], who: str) -> tuple[str, str]:
    """A signed-in person's access token for the office's tool, asking for both scopes; and the scopes granted."""
    member = STAFF[who]
    verifier, challenge = pkce_pair()
    params = authorize_params(tool[0], challenge, scope="monitoring:read grants:write")
    signed_in = await sign_in(http, params, member.email, member.password)
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
        auth=tool,
    )
    assert exchanged.status_code == 200, exchanged.text
    body = exchanged.json()
    return str(body["access_token"]), str(body.get("scope", ""))


async def _graphql(http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    answer = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_through_the_api_the_analyst_reads_grants_and_the_grant_manager_records_them(
    db: AsyncSession, client: httpx.AsyncClient
) -> None:
    # Given the office's tool, which may ask for both scopes for whoever signs in to it
    tool = await auth_service.add_client(
        db=db,
        organisation_slug="opcc",
        name="office tool",
        scopes="monitoring:read grants:write",
        redirect_uris=[REDIRECT_URI],
    )
    await db.commit()
    assert tool.secret is not None
    credentials = (tool.client.client_id, tool.secret)

    # When the analyst and then the grant manager sign in and each tries to record a grant
    analyst, analyst_scopes = await _person_token(client, credentials, "commissioner")
    manager, manager_scopes = await _person_token(client, credentials, "grants")
    refused = await _graphql(client, analyst, CREATE_GRANT, {"input": _grant_input("BY-THE-ANALYST")})
    recorded = await _graphql(client, manager, CREATE_GRANT, {"input": _grant_input("BY-THE-MANAGER")})

    # Then the analyst's token never carried grants:write and the edit is refused; the grant manager's is recorded
    assert analyst_scopes.split() == ["monitoring:read"]
    assert sorted(manager_scopes.split()) == ["grants:write", "monitoring:read"]
    assert refused["data"] is None
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["forbidden"]
    assert recorded["data"] == {"createGrant": {"__typename": "GrantPayload", "grant": {"reference": "BY-THE-MANAGER"}}}
    # And the analyst reads the one grant there is
    assert (await _graphql(client, analyst, GRANTS))["data"] == {
        "grants": [{"reference": "BY-THE-MANAGER", "amountPence": 9_000_000}]
    }


async def test_in_the_portal_the_analyst_sees_grants_but_no_form_and_a_posted_one_changes_nothing(
    browsers: Any,
) -> None:
    # Given a grant the grant manager recorded through the form
    profile = get_profile("cpn")
    assert profile is not None
    form = GRANT_FORM | {"services": profile.services[0]}
    manager = await browsers("grants")
    form_page = await manager.get("/portal/commissioner/grants/new")
    assert form_page.status_code == 200
    hidden = {unescape(k): unescape(v) for k, v in HIDDEN.findall(form_page.text)}
    created = await manager.post("/portal/commissioner/grants/new", form | hidden)
    assert created.status_code == 200 and "Grant PCC-2025-CPN-02 recorded" in created.text
    edit_link = 'href="/portal/commissioner/grants/'

    # When the analyst opens the grants, the form and the grant's edit page, and posts the form anyway
    analyst = await browsers("commissioner")
    listed = await analyst.get("/portal/commissioner/grants")
    new_form = await analyst.get("/portal/commissioner/grants/new")
    grant_id = created.text.split(edit_link, 1)[1].split('"', 1)[0]
    edit_form = await analyst.get(f"/portal/commissioner/grants/{grant_id}")
    # (with the CSRF token of a page the analyst may see, so only the role stands in the way)
    await analyst.get("/portal/commissioner/grants")
    fields = form | {k: v for k, v in hidden.items() if k != "csrf_token"}
    posted = await analyst.post("/portal/commissioner/grants/new", fields | {"reference": "BY-THE-ANALYST"})
    await analyst.get("/portal/commissioner/grants")
    changed = await analyst.post(f"/portal/commissioner/grants/{grant_id}", fields | {"amount": "1"})

    # Then the analyst reads the grant, with no way to record or edit, and neither post changed anything
    assert listed.status_code == 200 and "PCC-2025-CPN-02" in listed.text
    assert edit_link not in listed.text and "/portal/commissioner/grants/new" not in listed.text
    assert (new_form.status_code, edit_form.status_code) == (404, 404)
    assert (posted.status_code, changed.status_code) == (404, 404), posted.text
    after = (await manager.get("/portal/commissioner/grants")).text
    assert "BY-THE-ANALYST" not in after and "£90,000.00" in after
