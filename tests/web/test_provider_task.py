"""The provider's task page: safe contact first and impossible to miss, then the task, the person as the provider's
profile and the consent allow (removed, with the reason, after withdrawal), the case, the needs and the history."""

from __future__ import annotations

import re
from typing import Any

from tests.support.api import CREATE_REFERRAL, SEND_TASK, Gateway, key, referral_input, sent_task

REFERENCE = "query($id: ID!) { task(id: $id) { reference viewedAt } }"


def title_of(page: Any) -> str:
    match = re.search(r"<title>(.*?)</title>", page.text, re.S)
    assert match is not None
    return match.group(1)


async def reference(gateway: Gateway, task_id: str) -> str:
    found: str = (await gateway.gql("hub", REFERENCE, {"id": task_id}))["data"]["task"]["reference"]
    return found


async def referral_with(gateway: Gateway, victim: dict[str, Any], **options: Any) -> dict[str, Any]:
    """A referral to CPN whose victim has these safe-contact details (or others), its task sent."""
    created = referral_input(providers=["cpn"], **options)
    created["victim"] |= victim
    payload = (await gateway.gql("hub", CREATE_REFERRAL, {"input": created}))["data"]["createReferral"]
    assert payload["__typename"] == "ReferralPayload", payload
    task: dict[str, Any] = payload["referral"]["tasks"][0]
    return task


async def test_the_task_page_shows_safe_contact_first_then_the_person_case_and_needs(
    gateway: Gateway, browsers: Any
) -> None:
    task = await sent_task(gateway, "cpn")
    browser = await browsers("cpn")
    page = await browser.get(f"/portal/tasks/{task.task_id}")
    assert page.status_code == 200
    text = page.text
    ref = await reference(gateway, task.task_id)
    assert title_of(page).startswith(f"Task {ref}")
    assert "Alex" not in title_of(page) and "Alex" not in str(page.url)
    # Safe contact comes before anything else about the person, as GOV.UK warning text.
    safe = text.index("Safe contact: read before you contact this person")
    assert safe < text.index("Alex Example") and safe < text.index('<h2 class="govuk-heading-m">Status')
    assert re.search(r"govuk-warning-text.*?Do not leave voicemail\.", text, re.S)
    assert "Do not send letters." in text
    assert "07700900002" in text and "weekdays 10-12" in text  # the safe number and times
    # The person as CPN's profile allows: no crime reference (not in its profile), the needs and the case.
    assert "1 Example Street, Cambridge" in text and "07700900001" in text
    assert "CC-2026-0001" not in text
    assert "Violence" in text and "Mental health" in text and "Emotional" in text
    assert "Valid" in text and "Verbal" in text  # the consent behind it
    assert "Referral received" in text and "First opened" in text  # the history
    assert "Accept task" in text and "Reject task" in text
    # Opening it stamped the provider's first look, as the API shows.
    viewed = await gateway.gql("cpn", REFERENCE, {"id": task.task_id})
    assert viewed["data"]["task"]["viewedAt"] is not None


async def test_a_perpetrator_at_the_address_is_the_first_warning(gateway: Gateway, browsers: Any) -> None:
    safe = {"safePhone": "07700900009", "voicemailSafe": True, "lettersSafe": True, "perpetratorSharesAddress": True}
    task = await referral_with(gateway, {"safeContact": safe})
    sent = await gateway.gql(
        "hub", SEND_TASK, {"input": {"taskId": task["id"], "expectedVersion": task["version"], "idempotencyKey": key()}}
    )
    assert sent["data"]["sendTask"]["__typename"] == "TaskPayload"
    page = await (await browsers("cpn")).get(f"/portal/tasks/{task['id']}")
    text = page.text
    warnings = re.findall(r'<strong class="govuk-warning-text__text">(.*?)</strong>', text, re.S)
    assert "The perpetrator lives at this address" in warnings[0]
    assert text.index("The perpetrator lives at this address") < text.index("Alex Example")
    assert "Do not leave voicemail." not in text and "Do not send letters." not in text


async def test_after_withdrawal_the_person_is_removed_with_the_reason(gateway: Gateway, browsers: Any) -> None:
    task = await sent_task(gateway, "cpn")
    browser = await browsers("cpn")
    before = await browser.get(f"/portal/tasks/{task.task_id}")
    assert "Alex Example" in before.text
    withdrawn = await gateway.gql(
        "hub",
        "mutation($i: WithdrawConsentInput!) { withdrawConsent(input: $i) { __typename } }",
        {"i": {"consentId": task.consent_id, "idempotencyKey": key()}},
    )
    assert withdrawn["data"]["withdrawConsent"]["__typename"] == "ConsentPayload"
    after = await browser.get(f"/portal/tasks/{task.task_id}")
    assert after.status_code == 200
    assert "details have been removed" in after.text
    assert "consent to share them with your organisation was withdrawn" in after.text
    for personal in ("Alex", "Example Street", "07700900001", "07700900002", "alex@example.org", "weekdays 10-12"):
        assert personal not in after.text
    assert "Cancelled by the Hub" in after.text and "Consent was withdrawn" in after.text
    assert "Accept task" not in after.text  # a cancelled task offers nothing to do


async def test_a_safeguarding_override_is_shown_as_a_warning(gateway: Gateway, browsers: Any) -> None:
    task = await referral_with(gateway, {}, consent_providers=["road-victims-trust"])
    sent = await gateway.gql(
        "hub-supervisor",
        SEND_TASK,
        {
            "input": {
                "taskId": task["id"],
                "expectedVersion": task["version"],
                "idempotencyKey": key(),
                "safeguardingJustification": "Immediate risk of harm; the person cannot be asked today.",
            }
        },
    )
    assert sent["data"]["sendTask"]["__typename"] == "TaskPayload", sent
    page = await (await browsers("cpn")).get(f"/portal/tasks/{task['id']}")
    assert "shared without consent under a safeguarding override" in page.text


async def test_another_providers_task_is_the_same_404_as_a_missing_one(gateway: Gateway, browsers: Any) -> None:
    task = await sent_task(gateway, "cpn")
    outsider = await browsers("road-victims-trust")
    theirs = await outsider.get(f"/portal/tasks/{task.task_id}")
    missing = await outsider.get("/portal/tasks/2147483000")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text == missing.text and "Page not found" in theirs.text
    for nonsense in ("abc", "-1", "99999999999", "1e3", "%C2%B2"):
        assert (await outsider.get(f"/portal/tasks/{nonsense}")).status_code == 404


async def test_a_draft_is_not_shown_to_its_provider(gateway: Gateway, browsers: Any) -> None:
    draft = await referral_with(gateway, {})
    page = await (await browsers("cpn")).get(f"/portal/tasks/{draft['id']}")
    assert page.status_code == 404


async def test_a_hub_user_is_sent_to_the_referral_page(gateway: Gateway, browsers: Any) -> None:
    task = await sent_task(gateway, "cpn")
    hub = await browsers("coordinator")
    await hub.get("/portal/")
    answer = await hub.http.get(f"/portal/tasks/{task.task_id}")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/portal/referrals/{task.referral_id}"
    assert (await hub.get("/portal/tasks/2147483000")).status_code == 404
    analyst = await browsers("commissioner")
    assert (await analyst.get(f"/portal/tasks/{task.task_id}")).status_code == 404
