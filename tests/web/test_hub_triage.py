"""Triage in the Hub's pages: a self-referral becomes a referral with providers and consents, nobody retyped."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.api import Gateway, key
from tests.web.test_hub_create import answer, consent, path

SELF_REFERRAL = {
    "given_name": "Jo",
    "family_name": "Bloggs",
    "consent_to_contact": True,
    "phone": "07700900999",
    "safe_contact": {"safe_phone": "07700900998", "voicemail_safe": False},
    "crime_category": "burglary",
    "reported_to_police": True,
    "needs": ["emotional"],
}
REFERRAL = """
query($id: ID!) {
  referral(id: $id) {
    victim { givenName familyName phone dateOfBirth }
    case { arrivalRoute crimeCategory needs }
    tasks { provider status }
    consents { providers }
    intakeItem { confirmationReference status }
  }
}"""
QUEUE = "{ intakeQueue { items { confirmationReference } } }"


async def self_referral(client: httpx.AsyncClient) -> str:
    response = await client.post("/self-referral", json=SELF_REFERRAL, headers={"idempotency-key": key()})
    assert response.status_code == 202, response.text
    return str(response.json()["reference"])


async def intake_link(browser: Any, reference: str) -> str:
    home = await browser.get("/portal/hub")
    found = re.search(r'href="(/portal/intake/\d+)">Triage ' + reference, home.text)
    assert found is not None, "the self-referral is not in the queue"
    return found.group(1)


async def test_a_self_referral_is_triaged_into_a_referral_without_retyping_the_person(
    browsers: Any, gateway: Gateway, client: httpx.AsyncClient
) -> None:
    reference = await self_referral(client)
    browser = await browsers("coordinator")
    item = await intake_link(browser, reference)
    page = await browser.get(item)
    title = re.search(r"<title>(.*?)</title>", page.text, re.S).group(1)  # type: ignore[union-attr]
    assert reference in title and "Jo" not in title and "Bloggs" not in item
    assert "Jo Bloggs" in page.text and "07700900999" in page.text and "Do not leave voicemail" in page.text

    page = await browser.get(item + "/triage")
    assert path(page) == item + "/date-of-birth"
    page = await answer(browser, {"dob-day": "3", "dob-month": "4", "dob-year": "1985"})
    assert path(page) == item + "/case"
    assert re.search(r'value="burglary"[^>]*checked', page.text)  # as the person said, to confirm
    assert 'name="arrival_route"' not in page.text  # a self-referral arrived as one
    page = await answer(
        browser, {"crime_category": "burglary", "reported_to_police": "yes", "domestic_abuse_risk": "none"}
    )
    assert path(page) == item + "/needs" and re.search(r'value="emotional"[^>]*checked', page.text)
    page = await answer(browser, {"needs": ["emotional", "mental-health"]})
    page = await answer(browser, {"providers": ["cpn"]})
    assert path(page) == item + "/consent/cpn"
    page = await answer(browser, consent())
    assert path(page) == item + "/check" and "Jo Bloggs" in page.text and "3 April 1985" in page.text

    sent = await browser.post(item + "/check")

    assert re.fullmatch(r"/portal/referrals/\d+", path(sent)) and "Referral sent to 1 provider" in sent.text
    body = await gateway.gql("hub", REFERRAL, {"id": path(sent).rsplit("/", 1)[1]})
    referral = body["data"]["referral"]
    assert referral["victim"] == {
        "givenName": "Jo",
        "familyName": "Bloggs",
        "phone": "07700900999",
        "dateOfBirth": "1985-04-03",
    }
    assert referral["case"] == {
        "arrivalRoute": "SELF_REFERRAL",
        "crimeCategory": "BURGLARY",
        "needs": ["EMOTIONAL", "MENTAL_HEALTH"],
    }
    assert referral["tasks"] == [{"provider": "cpn", "status": "REQUESTED"}]
    assert referral["consents"] == [{"providers": ["cpn"]}]
    assert referral["intakeItem"] == {"confirmationReference": reference, "status": "REFERRAL_CREATED"}
    assert (await gateway.gql("hub", QUEUE))["data"]["intakeQueue"]["items"] == []
    done = await browser.get(item)
    assert "This self-referral has been triaged" in done.text and "Triage into a referral" not in done.text


async def test_a_self_referral_is_closed_with_a_reason(
    browsers: Any, gateway: Gateway, client: httpx.AsyncClient
) -> None:
    reference = await self_referral(client)
    browser = await browsers("coordinator")
    item = await intake_link(browser, reference)
    await browser.get(item + "/close")

    no_reason = await browser.post(item + "/close", {"idempotency_key": key()})
    assert no_reason.status_code == 400 and 'href="#reason"' in no_reason.text
    assert len((await gateway.gql("hub", QUEUE))["data"]["intakeQueue"]["items"]) == 1

    closed = await browser.post(item + "/close", {"reason": "duplicate", "idempotency_key": key()})

    assert path(closed) == "/portal/hub" and f"Self-referral {reference} closed" in closed.text
    assert f"Triage {reference}" not in closed.text
    assert (await gateway.gql("hub", QUEUE))["data"]["intakeQueue"]["items"] == []
    page = await browser.get(item)
    assert "This self-referral has been triaged: Duplicate" in page.text
