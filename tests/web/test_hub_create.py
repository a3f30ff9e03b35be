"""Creating a referral in the Hub's pages: one question a page, check your answers, and send in one transaction."""

from __future__ import annotations

import re
from typing import Any

from tests.support.api import Gateway

REFERRAL = """
query($id: ID!) {
  referral(id: $id) {
    reference
    victim { givenName familyName dateOfBirth guardian { name } safeContact { voicemailSafe perpetratorSharesAddress } }
    case { crimeCategory needs crimeReference }
    tasks { id provider status }
    consents { givenBy method providers dataCategories statisticsConsent withheldInformation withheldReason }
  }
}"""
REFERRALS = "{ referrals(first: 50) { items { id } } }"
PROVIDER_TASK = "query($id: ID!) { task(id: $id) { status victim { redacted givenName phone } } }"

ADULT = {"given_name": "Alex", "family_name": "Example", "dob-day": "15", "dob-month": "1", "dob-year": "1990"}
CONTACT = {"address": "1 Example Street", "postcode": "CB1 1AA", "phone": "07700900001", "email": "", "language": ""}
SAFE = {"safe_phone": "07700900002", "safe_times": "weekdays 10-12", "safe": ["perpetrator_shares_address"]}
CASE = {
    "arrival_route": "officer-needs-assessment",
    "crime_category": "violence",
    "reported_to_police": "yes",
    "crime_reference": "CC-2026-0042",
    "domestic_abuse_risk": "none",
}
NEEDS = {"needs": ["mental-health", "restorative-justice-interest"], "assessment_notes": "Anxious since the attack."}


def consent(**changes: Any) -> dict[str, Any]:
    return {
        "given_by": "victim",
        "method": "verbal",
        "given_on-day": "20",
        "given_on-month": "11",
        "given_on-year": "2026",
        "data_categories": ["name", "phone", "safe-contact", "needs"],
        "withheld_information": "",
        "withheld_reason": "",
        "statistics_consent": "yes",
    } | changes


def path(response: Any) -> str:
    return str(response.url.path)


async def answer(browser: Any, data: dict[str, Any]) -> Any:
    """Post the page the browser is on, as its form's Continue button would."""
    return await browser.post(path(browser.page), data)


async def referral_ids(gateway: Gateway) -> list[str]:
    body = await gateway.gql("hub", REFERRALS)
    return [item["id"] for item in body["data"]["referrals"]["items"]]


async def test_a_coordinator_creates_a_referral_to_two_providers_and_both_are_sent(
    browsers: Any, gateway: Gateway
) -> None:
    browser = await browsers("coordinator")
    page = await browser.get("/portal/hub")
    assert 'href="/portal/referrals/new"' in page.text
    page = await browser.get("/portal/referrals/new")
    assert path(page) == "/portal/referrals/new/victim"
    page = await answer(browser, ADULT)
    assert path(page) == "/portal/referrals/new/contact"
    page = await answer(browser, CONTACT)
    assert path(page) == "/portal/referrals/new/safe-contact"  # an adult: no guardian page
    page = await answer(browser, SAFE)
    assert path(page) == "/portal/referrals/new/case"
    page = await answer(browser, CASE)
    assert path(page) == "/portal/referrals/new/needs"
    page = await answer(browser, NEEDS)
    assert path(page) == "/portal/referrals/new/providers"
    assert "Cannot take this referral: takes only crime categories: road-collision" in page.text
    page = await answer(browser, {"providers": ["cpn", "rj-hub"]})
    assert path(page) == "/portal/referrals/new/consent/cpn"
    page = await answer(browser, consent())
    assert path(page) == "/portal/referrals/new/consent/rj-hub"
    page = await answer(browser, consent(withheld_information="Her new address", withheld_reason="She is moving"))
    assert path(page) == "/portal/referrals/new/check"
    assert "Alex Example" in page.text and "CC-2026-0042" in page.text and "Her new address" in page.text
    assert "Alex" not in re.search(r"<title>(.*?)</title>", page.text, re.S).group(1)  # type: ignore[union-attr]

    sent = await browser.post("/portal/referrals/new/check")

    assert sent.status_code == 200 and re.fullmatch(r"/portal/referrals/\d+", path(sent))
    assert "Referral sent to 2 providers" in sent.text
    referral_id = path(sent).rsplit("/", 1)[1]
    body = await gateway.gql("hub", REFERRAL, {"id": referral_id})
    referral = body["data"]["referral"]
    assert referral["victim"]["givenName"] == "Alex" and referral["victim"]["dateOfBirth"] == "1990-01-15"
    assert referral["victim"]["safeContact"] == {"voicemailSafe": False, "perpetratorSharesAddress": True}
    assert referral["case"] == {
        "crimeCategory": "VIOLENCE",
        "needs": ["MENTAL_HEALTH", "RESTORATIVE_JUSTICE_INTEREST"],
        "crimeReference": "CC-2026-0042",
    }
    assert sorted((t["provider"], t["status"]) for t in referral["tasks"]) == [
        ("cpn", "REQUESTED"),
        ("rj-hub", "REQUESTED"),
    ]
    by_provider = {c["providers"][0]: c for c in referral["consents"]}
    assert by_provider["cpn"]["dataCategories"] == ["NAME", "NEEDS", "PHONE", "SAFE_CONTACT"]
    assert by_provider["rj-hub"]["withheldReason"] == "She is moving"
    cpn_task = next(t["id"] for t in referral["tasks"] if t["provider"] == "cpn")
    seen = await gateway.gql("cpn", PROVIDER_TASK, {"id": cpn_task})
    assert seen["data"]["task"]["victim"] == {"redacted": False, "givenName": "Alex", "phone": "07700900001"}
    # The draft is gone: starting again starts a new referral.
    again = await browser.get("/portal/referrals/new")
    assert path(again) == "/portal/referrals/new/victim" and "Alex" not in again.text


async def draft_step(browser: Any) -> str:
    """Where the person's draft stands: the page "create a referral" sends them to."""
    return path(await browser.get("/portal/referrals/new"))


async def test_each_page_refuses_what_is_missing_or_wrong_and_keeps_what_was_typed(browsers: Any) -> None:
    browser = await browsers("coordinator")
    await browser.get("/portal/referrals/new")
    refusals: list[tuple[dict[str, Any], dict[str, Any], list[tuple[str, str]]]] = [
        (
            {"given_name": "", "family_name": "Ex" * 60, "dob-day": "31", "dob-month": "2", "dob-year": "1990"},
            ADULT,
            [
                ("given_name", "Enter the victim&#39;s first name"),
                ("family_name", "Last name must be 100 characters or fewer"),
                ("dob-day", "The victim&#39;s date of birth must be a real date"),
            ],
        ),
        (
            {"address": "", "postcode": "", "phone": "", "email": "", "language": ""},
            CONTACT,
            [("address", "Enter at least one way to contact the victim")],
        ),
        ({"safe_phone": "0" * 40, "safe_times": ""}, SAFE, [("safe_phone", "Safe phone number must be 32 characters")]),
        (
            {"crime_category": "domestic-abuse", "reported_to_police": "no", "crime_reference": "CC-1"},
            CASE,
            [
                ("arrival_route", "Select how the case reached the Hub"),
                ("crime_reference", "A crime reference needs the crime to have been reported to police"),
                ("domestic_abuse_risk", "Select the domestic-abuse risk level"),
            ],
        ),
        ({"needs": ["not-a-need"], "assessment_notes": "x" * 2001}, NEEDS, [("needs", "Select at least one need")]),
        ({}, {"providers": ["cpn"]}, [("providers", "Select at least one provider")]),
        (
            consent(given_by="guardian", method="", data_categories=[], withheld_information="A secret"),
            consent(),
            [
                ("given_by", "Select who gave consent"),  # no guardian for an adult
                ("method", "Select how consent was given"),
                ("data_categories", "Select the information the victim agreed to share"),
                ("withheld_reason", "Enter why the information is withheld"),
            ],
        ),
    ]
    for wrong, right, messages in refusals:
        here = path(browser.page)
        refused = await answer(browser, wrong)
        assert refused.status_code == 400, here
        assert path(refused) == here and "There is a problem" in refused.text
        assert refused.text.count("<title>Error: ") == 1
        for field_id, message in messages:
            assert f'href="#{field_id}"' in refused.text and message in refused.text, (here, field_id)
        assert await draft_step(browser) == here  # nothing was kept from the refused page
        if "family_name" in wrong:
            assert 'value="' + ("Ex" * 60)[:101] in refused.text  # what was typed is shown again (bounded)
        await browser.get(here)
        moved_on = await answer(browser, right)
        assert moved_on.status_code == 200 and path(moved_on) != here
    assert path(browser.page) == "/portal/referrals/new/check"


async def test_a_child_victim_is_asked_for_a_guardian_and_the_guardian_can_consent(
    browsers: Any, gateway: Gateway
) -> None:
    browser = await browsers("coordinator")
    await browser.get("/portal/referrals/new")
    await answer(browser, ADULT | {"dob-year": "2014"})
    page = await answer(browser, CONTACT)
    assert path(page) == "/portal/referrals/new/guardian"
    refused = await answer(browser, {"guardian_name": "Sam Example", "guardian_relationship": "mother"})
    assert refused.status_code == 400 and "Enter a phone number or an email address for the parent" in refused.text
    page = await answer(
        browser, {"guardian_name": "Sam Example", "guardian_relationship": "mother", "guardian_phone": "07700900003"}
    )
    assert path(page) == "/portal/referrals/new/safe-contact"
    await answer(browser, SAFE)
    await answer(browser, CASE)
    page = await answer(browser, {"needs": ["young-person", "emotional"]})
    assert "takes only victims aged 18 and over" in page.text  # the CPN service, for adults
    page = await answer(browser, {"providers": ["family-action"]})
    assert path(page) == "/portal/referrals/new/consent/family-action"
    assert "Their parent or guardian" in page.text
    page = await answer(browser, consent(given_by="guardian", data_categories=["name", "guardian", "age"]))
    assert path(page) == "/portal/referrals/new/check" and "Sam Example (mother)" in page.text

    sent = await browser.post("/portal/referrals/new/check")

    body = await gateway.gql("hub", REFERRAL, {"id": path(sent).rsplit("/", 1)[1]})
    referral = body["data"]["referral"]
    assert referral["victim"]["guardian"] == {"name": "Sam Example"}
    assert [(c["givenBy"], c["providers"]) for c in referral["consents"]] == [("GUARDIAN", ["family-action"])]
    assert [(t["provider"], t["status"]) for t in referral["tasks"]] == [("family-action", "REQUESTED")]


async def test_growing_up_on_a_changed_answer_drops_the_guardian_and_asks_again_what_no_longer_fits(
    browsers: Any,
) -> None:
    browser = await browsers("coordinator")
    await browser.get("/portal/referrals/new")
    for data in (ADULT, CONTACT, SAFE, CASE, NEEDS, {"providers": ["cpn"]}, consent()):
        await answer(browser, data)
    assert path(browser.page) == "/portal/referrals/new/check"
    await browser.get("/portal/referrals/new/victim")
    page = await answer(browser, ADULT | {"dob-year": "2014"})
    # A child now: the guardian is asked for, and the CPN service (adults only) must be chosen again.
    assert path(page) == "/portal/referrals/new/guardian"
    page = await answer(
        browser,
        {"guardian_name": "Sam Example", "guardian_relationship": "father", "guardian_email": "sam@example.org"},
    )
    assert path(page) == "/portal/referrals/new/providers"
    assert await draft_step(browser) == "/portal/referrals/new/providers"


async def test_an_ineligible_provider_cannot_be_chosen_and_the_reason_is_shown(browsers: Any) -> None:
    browser = await browsers("coordinator")
    await browser.get("/portal/referrals/new")
    for data in (ADULT, CONTACT, SAFE, CASE, NEEDS):
        page = await answer(browser, data)
    assert 'value="road-victims-trust"' not in page.text  # not offered as a choice at all
    assert re.search(
        r"Road Victims Trust.*?Cannot take this referral: takes only crime categories: road-collision\.",
        page.text,
        re.S,
    )

    refused = await answer(browser, {"providers": ["cpn", "road-victims-trust"]})

    assert refused.status_code == 400
    assert "Road Victims Trust" in refused.text and "cannot take this referral" in refused.text
    assert await draft_step(browser) == "/portal/referrals/new/providers"


async def test_a_refusal_when_sending_saves_nothing_and_says_why(browsers: Any, gateway: Gateway, db: Any) -> None:
    from sqlalchemy import update

    from gateway.organisations.models import Organisation

    browser = await browsers("coordinator")
    await browser.get("/portal/referrals/new")
    for data in (ADULT, CONTACT, SAFE, CASE, NEEDS, {"providers": ["cpn", "rj-hub"]}, consent(), consent()):
        await answer(browser, data)
    before = await referral_ids(gateway)
    # The RJ hub's organisation is switched off while the co-ordinator checks the answers.
    await db.exec(update(Organisation).where(Organisation.slug == "rj-hub").values(active=False))  # type: ignore[arg-type]
    await db.commit()

    refused = await browser.post("/portal/referrals/new/check")

    assert refused.status_code == 400 and "There is no active provider" in refused.text
    assert 'href="#send"' in refused.text
    assert await referral_ids(gateway) == before  # not the referral, not the CPN task: nothing
    assert await draft_step(browser) == "/portal/referrals/new/check"  # the answers are kept to try again
