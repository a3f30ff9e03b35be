"""Every Hub page, error states included, in a real browser: axe-core finds nothing on any of them."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.support.api import CREATE_REFERRAL, Gateway, key, referral_input
from tests.support.browser import Pages, Site, axe, off_browser_thread, submit_empty

REJECT = """
mutation($i: RejectTaskInput!) { rejectTask(input: $i) { __typename } }"""
SEND = """
mutation($i: SendTaskInput!) { sendTask(input: $i) { __typename ... on TaskPayload { task { version } } } }"""


def _api(site: Site, work: Any) -> Any:
    async def run() -> Any:
        async with httpx.AsyncClient(base_url=site.url) as http:
            return await work(Gateway(http, site.world), http)

    return off_browser_thread(run)


def _fill(page: Page, answers: dict[str, str], checks: tuple[str, ...] = ()) -> None:
    for label, value in answers.items():
        page.get_by_label(label, exact=True).fill(value)
    for label in checks:
        page.get_by_label(label, exact=True).check()
    page.get_by_role("button", name="Continue").click()
    axe(page)


def test_the_create_flow_pages_and_their_errors_have_no_axe_violations(pages: Pages) -> None:
    page = pages("coordinator")
    page.get_by_role("button", name="Create a referral").click()
    axe(page)
    submit_empty(page, "Continue")
    _fill(page, {"First name": "Alex", "Last name": "Example", "Day": "15", "Month": "1", "Year": "2014"})
    submit_empty(page, "Continue")  # contact: none given
    _fill(page, {"Phone number": "07700900001"})
    submit_empty(page, "Continue")  # guardian: nothing given
    _fill(page, {"Their name": "Sam Example", "Relationship to the victim": "mother", "Phone number": "07700900003"})
    _fill(page, {}, ("The perpetrator lives at the victim's address",))  # safe contact
    submit_empty(page, "Continue")  # case
    _fill(page, {}, ("Officer's needs assessment", "Violence", "Yes"))
    submit_empty(page, "Continue")  # needs
    _fill(page, {}, ("Young person",))
    submit_empty(page, "Continue")  # providers
    _fill(page, {}, ("Specialist Victim Care Co-ordinator for Young Victims",))
    submit_empty(page, "Continue")  # consent
    _fill(
        page,
        {"Day": "20", "Month": "11", "Year": "2026"},
        ("Their parent or guardian", "Verbal", "Name", "No"),
    )
    expect(page.get_by_role("heading", name="Check your answers before sending the referral")).to_be_visible()
    page.get_by_role("button", name="Send referral").click()
    expect(page.get_by_text("Referral sent to 1 provider")).to_be_visible()
    axe(page)
    page.get_by_role("link", name="Referrals", exact=True).click()
    axe(page)


def test_the_referral_action_pages_and_their_errors_have_no_axe_violations(pages: Pages, site: Site) -> None:
    async def setup(gateway: Gateway, http: httpx.AsyncClient) -> tuple[str, str, str]:
        needs = ["mental-health", "restorative-justice-interest"]
        made = await gateway.gql(
            "hub",
            CREATE_REFERRAL,
            {"input": referral_input(providers=["cpn", "rj-hub"], consent_providers=["cpn"], needs=needs)},
        )
        referral = made["data"]["createReferral"]["referral"]
        cpn = next(t for t in referral["tasks"] if t["provider"] == "cpn")
        sent = await gateway.gql(
            "hub", SEND, {"i": {"taskId": cpn["id"], "expectedVersion": 1, "idempotencyKey": key()}}
        )
        version = sent["data"]["sendTask"]["task"]["version"]
        change = {"taskId": cpn["id"], "expectedVersion": version, "idempotencyKey": key(), "reason": "NO_CAPACITY"}
        await gateway.gql("cpn", REJECT, {"i": change})
        answer = await http.post(
            "/self-referral",
            json={"given_name": "Jo", "family_name": "Bloggs", "consent_to_contact": True, "phone": "07700900999"},
            headers={"idempotency-key": key()},
        )
        assert answer.status_code == 202
        return referral["id"], cpn["id"], str(answer.json()["reference"])

    referral_id, task_id, reference = _api(site, setup)
    page = pages("supervisor")  # lands on the Hub home, checked
    page.get_by_role("link", name=re.compile("^REF-")).first.click()
    axe(page)
    page.get_by_role("link", name=re.compile("^Re-route task")).click()
    axe(page)
    submit_empty(page, "Send to the chosen provider")
    page.get_by_role("link", name="record a new consent").click()
    axe(page)
    page.get_by_role("link", name="Record consent to share with Restorative Justice Hub").click()
    axe(page)
    submit_empty(page, "Record the consent")
    page.goto(f"/portal/referrals/{referral_id}")
    axe(page)
    page.get_by_role("link", name=re.compile("without consent")).click()
    axe(page)
    submit_empty(page, "Send without consent")
    page.get_by_label("Why must the details be shared without consent?").fill(
        "A credible threat to life was disclosed today and the victim cannot be reached to consent to this."
    )
    page.get_by_role("button", name="Send without consent").click()
    expect(page.get_by_text(re.compile(r"Task REF-\S+ sent under a safeguarding override"))).to_be_visible()
    axe(page)
    page.get_by_role("link", name=re.compile("^Cancel task")).click()
    axe(page)
    submit_empty(page, "Cancel the task")
    page.goto(f"/portal/referrals/{referral_id}")
    axe(page)
    page.get_by_role("link", name=re.compile("^Withdraw consent for")).first.click()
    axe(page)
    page.get_by_role("button", name="Withdraw consent and cancel the open tasks").click()
    axe(page)
    page.goto("/portal/hub")
    axe(page)
    page.get_by_role("link", name=f"Triage {reference}").click()
    axe(page)
    page.get_by_role("link", name="Close without a referral").click()
    axe(page)
    submit_empty(page, "Close the self-referral")
    page.goto("/portal/hub")
    axe(page)
    page.get_by_role("link", name=f"Triage {reference}").click()
    axe(page)
    page.get_by_role("button", name="Triage into a referral").click()
    axe(page)
    _fill(page, {"Day": "3", "Month": "4", "Year": "1985"})  # case
    _fill(page, {}, ("Burglary", "No"))  # needs
    _fill(page, {}, ("Mental health",))  # providers
    _fill(page, {}, ("Mental Health Pathfinders (Community Psychiatric Nurses)",))  # consent
    _fill(page, {"Day": "20", "Month": "11", "Year": "2026"}, ("The victim", "Written", "Name", "Yes"))
    expect(page.get_by_text("Jo Bloggs")).to_be_visible()
    assert task_id
