"""The safeguarding override: only a supervisor sends without consent, with a justification, and it shows everywhere."""

from __future__ import annotations

import re
from typing import Any

from tests.support.api import CREATE_REFERRAL, Gateway, key, referral_input
from tests.web.test_hub_create import path

TASK = "query($id: ID!) { task(id: $id) { status safeguardingOverride } }"
WARNING = "was sent without the victim&#39;s consent, under a safeguarding override"
JUSTIFICATION = (
    "The victim disclosed a credible threat to kill from an ex-partner who is due for release on Friday; "
    "she cannot be reached to consent and the rape crisis service must contact her first."
)


async def draft_without_consent(gateway: Gateway) -> tuple[str, str]:
    """A referral to the CPN service and the RJ hub whose one consent covers only the CPN service."""
    needs = ["mental-health", "restorative-justice-interest"]
    body = await gateway.gql(
        "hub",
        CREATE_REFERRAL,
        {"input": referral_input(providers=["cpn", "rj-hub"], consent_providers=["cpn"], needs=needs)},
    )
    referral = body["data"]["createReferral"]["referral"]
    return referral["id"], next(t["id"] for t in referral["tasks"] if t["provider"] == "rj-hub")


async def test_a_coordinator_has_no_override_and_its_page_is_not_found(browsers: Any, gateway: Gateway) -> None:
    referral_id, task_id = await draft_without_consent(gateway)
    browser = await browsers("coordinator")

    page = await browser.get(f"/portal/referrals/{referral_id}")
    override = await browser.get(f"/portal/referrals/{referral_id}/tasks/{task_id}/override")

    assert "No consent standing now covers this provider" in page.text
    assert "without consent (safeguarding)" not in page.text
    assert override.status_code == 404 and "Page not found" in override.text
    refused = await browser.post(
        f"/portal/referrals/{referral_id}/tasks/{task_id}/override",
        {"justification": JUSTIFICATION, "version": "1", "idempotency_key": key()},
    )
    assert refused.status_code == 404
    assert (await gateway.gql("hub", TASK, {"id": task_id}))["data"]["task"]["status"] == "DRAFT"


async def test_a_supervisor_sends_without_consent_with_a_justification_and_every_page_warns(
    browsers: Any, gateway: Gateway
) -> None:
    referral_id, task_id = await draft_without_consent(gateway)
    browser = await browsers("supervisor")
    page = await browser.get(f"/portal/referrals/{referral_id}")
    link = f"/portal/referrals/{referral_id}/tasks/{task_id}/override"
    assert f'href="{link}"' in page.text and WARNING not in page.text
    form = await browser.get(link)
    assert form.status_code == 200 and "without their consent" in form.text

    empty = await browser.post(link, {"justification": "", "version": "1", "idempotency_key": key()})
    short = await browser.post(link, {"justification": "Urgent.", "version": "1", "idempotency_key": key()})

    assert empty.status_code == 400 and 'href="#justification"' in empty.text
    assert short.status_code == 400 and "at least 50 characters" in short.text and "Urgent." in short.text
    assert (await gateway.gql("hub", TASK, {"id": task_id}))["data"]["task"]["status"] == "DRAFT"

    sent = await browser.post(link, {"justification": JUSTIFICATION, "version": "1", "idempotency_key": key()})

    assert path(sent) == f"/portal/referrals/{referral_id}" and "sent under a safeguarding override" in sent.text
    task = (await gateway.gql("hub", TASK, {"id": task_id}))["data"]["task"]
    assert task == {"status": "REQUESTED", "safeguardingOverride": True}
    assert WARNING in sent.text and "govuk-warning-text" in sent.text and JUSTIFICATION in sent.text
    listed = await browser.get("/portal/referrals")
    assert WARNING in listed.text
    cancel = await browser.get(f"/portal/referrals/{referral_id}/tasks/{task_id}/cancel")
    assert WARNING in cancel.text
    coordinator = await browsers("coordinator")
    seen = await coordinator.get(f"/portal/referrals/{referral_id}")
    assert WARNING in seen.text
    assert re.search(r"<title>[^<]*</title>", seen.text) and JUSTIFICATION not in seen.text.split("</title>")[0]
