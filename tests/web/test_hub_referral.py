"""A referral's page in the Hub: each task's status, history and contact attempts, and the Hub's actions on them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from gateway.clock import utc_now
from gateway.referrals.models import ReferralTask
from tests.support.api import CREATE_REFERRAL, SEND_TASK, Gateway, key, referral_input, sent_task
from tests.web.test_hub_create import consent, path

TASK = "query($id: ID!) { task(id: $id) { provider status statusReason version replacesTaskId } }"
PROVIDER_VIEW = "query($id: ID!) { task(id: $id) { status victim { redacted redactionReason givenName phone } } }"
REFERRAL_TASKS = "query($id: ID!) { referral(id: $id) { tasks { id provider status statusReason replacesTaskId } } }"
CHANGE = """
mutation($i: TaskChangeInput!) { acceptTask(input: $i) { __typename ... on TaskPayload { task { version } } } }"""
REJECT = """
mutation($i: RejectTaskInput!) { rejectTask(input: $i) { __typename ... on TaskPayload { task { version } } } }"""
ATTEMPT = """
mutation($i: RecordContactAttemptInput!) { recordContactAttempt(input: $i) { __typename } }"""
TWO_NEEDS = ["mental-health", "restorative-justice-interest"]


async def task_of(gateway: Gateway, task_id: str, role: str = "hub") -> dict[str, Any]:
    body = await gateway.gql(role, TASK, {"id": task_id})
    task: dict[str, Any] = body["data"]["task"]
    return task


async def accept(gateway: Gateway, provider: str, task_id: str, version: int) -> int:
    body = await gateway.gql(
        provider, CHANGE, {"i": {"taskId": task_id, "expectedVersion": version, "idempotencyKey": key()}}
    )
    return int(body["data"]["acceptTask"]["task"]["version"])


async def created_and_sent(gateway: Gateway, providers: list[str]) -> tuple[str, dict[str, str]]:
    """A referral to these providers under one consent covering them all, every task sent: (referral, tasks)."""
    body = await gateway.gql("hub", CREATE_REFERRAL, {"input": referral_input(providers=providers, needs=TWO_NEEDS)})
    referral = body["data"]["createReferral"]["referral"]
    for task in referral["tasks"]:
        change = {"taskId": task["id"], "expectedVersion": task["version"], "idempotencyKey": key()}
        sent = await gateway.gql("hub", SEND_TASK, {"input": change})
        assert sent["data"]["sendTask"]["__typename"] == "TaskPayload"
    return referral["id"], {t["provider"]: t["id"] for t in referral["tasks"]}


async def test_the_referral_page_shows_each_task_with_its_history_attempts_and_overdue_flags(
    browsers: Any, gateway: Gateway, db: Any
) -> None:
    sent = await sent_task(gateway, "cpn")
    await accept(gateway, "cpn", sent.task_id, sent.version)
    attempt = {
        "taskId": sent.task_id,
        "attemptedAt": utc_now().isoformat(),
        "method": "PHONE",
        "result": "NO_ANSWER",
        "idempotencyKey": key(),
    }
    assert (await gateway.gql("cpn", ATTEMPT, {"i": attempt}))["data"]["recordContactAttempt"]["__typename"] != (
        "OperationError"
    )
    # The first-contact target passed an hour ago.
    await db.exec(
        update(ReferralTask)
        .where(ReferralTask.id == int(sent.task_id))  # type: ignore[arg-type]
        .values(first_contact_due_at=utc_now() - timedelta(hours=1))
    )
    await db.commit()
    browser = await browsers("coordinator")

    page = await browser.get(f"/portal/referrals/{sent.referral_id}")

    assert page.status_code == 200
    title = re.search(r"<title>(.*?)</title>", page.text, re.S).group(1)  # type: ignore[union-attr]
    assert "Referral REF-" in title and "Alex" not in title
    assert "Alex Example" in page.text and "Do not leave voicemail" in page.text
    assert "Mental Health Pathfinders" in page.text and ">Accepted</strong>" in page.text
    assert "First contact overdue" in page.text
    timeline = page.text[page.text.index('class="moj-timeline"') :]
    titles = re.findall(r'class="moj-timeline__title">([^<]+)<', timeline)
    assert titles == ["Contact attempt", "Accepted", "Sent to the provider", "Draft created"]
    assert "Phone: No answer" in timeline
    assert f"Cancel task {sent.task_id}" not in page.text and "Cancel task REF-" in page.text
    home = await browser.get("/portal/hub")
    overdue = home.text[home.text.index('id="overdue"') : home.text.index('id="reroute"')]
    assert f'href="/portal/referrals/{sent.referral_id}"' in overdue and "First contact overdue" in overdue


async def test_the_referrals_list_links_each_referral_and_pages(browsers: Any, gateway: Gateway) -> None:
    first = await sent_task(gateway, "cpn")
    browser = await browsers("coordinator")

    page = await browser.get("/portal/referrals")

    assert f'href="/portal/referrals/{first.referral_id}"' in page.text and "Sent</strong>" in page.text
    assert "Next page" not in page.text
    beyond = await browser.get(f"/portal/referrals?after={first.referral_id}")
    assert "There are no referrals on this page" in beyond.text
    junk = await browser.get("/portal/referrals?after=not-a-number")
    assert f'href="/portal/referrals/{first.referral_id}"' in junk.text


async def test_a_coordinator_cancels_a_task_with_a_reason_and_the_provider_sees_it_stop(
    browsers: Any, gateway: Gateway
) -> None:
    sent = await sent_task(gateway, "cpn")
    browser = await browsers("coordinator")
    await browser.get(f"/portal/referrals/{sent.referral_id}")
    page = await browser.get(f"/portal/referrals/{sent.referral_id}/tasks/{sent.task_id}/cancel")
    assert page.status_code == 200 and "Why is the task cancelled?" in page.text
    cancel = f"/portal/referrals/{sent.referral_id}/tasks/{sent.task_id}/cancel"
    form = {"version": str(sent.version), "idempotency_key": key()}

    no_reason = await browser.post(cancel, form)
    no_token = await browser.post(cancel, form | {"reason": "victim-request"}, csrf=False)
    stale = await browser.post(cancel, form | {"reason": "victim-request", "version": str(sent.version - 1)})

    assert no_reason.status_code == 400 and 'href="#reason"' in no_reason.text
    assert no_token.status_code == 403
    assert stale.status_code == 400 and "Someone else changed this task while you were looking at it" in stale.text
    assert f'name="version" value="{sent.version}"' in stale.text  # the latest, to check and try again
    assert (await task_of(gateway, sent.task_id))["status"] == "REQUESTED"

    done = await browser.post(cancel, form | {"reason": "victim-request"})

    assert path(done) == f"/portal/referrals/{sent.referral_id}" and "Task REF-" in done.text
    assert "cancelled" in done.text
    task = await task_of(gateway, sent.task_id)
    assert (task["status"], task["statusReason"]) == ("CANCELLED", "victim-request")
    assert (await task_of(gateway, sent.task_id, "cpn"))["status"] == "CANCELLED"
    # Consent withdrawal is a reason only the withdrawal gives.
    assert 'value="consent-withdrawn"' not in page.text


async def test_rejected_work_is_queued_for_re_routing_and_goes_to_another_eligible_provider(
    browsers: Any, gateway: Gateway
) -> None:
    sent = await sent_task(gateway, "cpn", consent_providers=["cpn", "rj-hub"], needs=TWO_NEEDS)
    change = {"taskId": sent.task_id, "expectedVersion": sent.version, "idempotencyKey": key(), "reason": "NO_CAPACITY"}
    assert (await gateway.gql("cpn", REJECT, {"i": change}))["data"]["rejectTask"]["__typename"] == "TaskPayload"
    browser = await browsers("coordinator")
    home = await browser.get("/portal/hub")
    queue = home.text[home.text.index('id="reroute"') :]
    assert f'href="/portal/referrals/{sent.referral_id}"' in queue and "No capacity" in queue
    reroute = f"/portal/referrals/{sent.referral_id}/tasks/{sent.task_id}/reroute"
    page = await browser.get(reroute)
    assert 'value="road-victims-trust"' not in page.text and 'value="rj-hub"' in page.text
    assert "Cannot take this work: takes only crime categories: road-collision" in page.text
    assert 'value="cpn"' not in page.text  # another provider, not the one that gave it back

    refused = await browser.post(reroute, {"provider": "road-victims-trust", "idempotency_key": key()})
    assert refused.status_code == 400 and "cannot take this referral" in refused.text

    done = await browser.post(reroute, {"provider": "rj-hub", "idempotency_key": key()})

    assert path(done) == f"/portal/referrals/{sent.referral_id}" and "sent to Restorative Justice Hub" in done.text
    body = await gateway.gql("hub", REFERRAL_TASKS, {"id": sent.referral_id})
    tasks = {t["provider"]: t for t in body["data"]["referral"]["tasks"]}
    assert tasks["rj-hub"]["status"] == "REQUESTED" and tasks["rj-hub"]["replacesTaskId"] == sent.task_id
    assert tasks["cpn"]["status"] == "REJECTED"
    home = await browser.get("/portal/hub")
    assert "Nothing needs re-routing." in home.text


async def test_withdrawing_a_consent_says_what_each_provider_loses_then_cancels_their_work(
    browsers: Any, gateway: Gateway
) -> None:
    referral_id, tasks = await created_and_sent(gateway, ["cpn", "rj-hub"])
    await accept(gateway, "cpn", tasks["cpn"], 2)
    browser = await browsers("coordinator")
    page = await browser.get(f"/portal/referrals/{referral_id}")
    link = re.search(r'href="(/portal/referrals/\d+/consents/\d+/withdraw)"', page.text)
    assert link is not None

    confirm = await browser.get(link.group(1))

    assert confirm.status_code == 200
    text = re.sub(r"\s+", " ", confirm.text)
    assert "Mental Health Pathfinders (Community Psychiatric Nurses) will lose" in text
    assert "Restorative Justice Hub will lose" in text
    assert re.search(r"Task REF-\d{4}-\d{6}-CPN \(accepted\): it will be cancelled", text)
    assert re.search(r"Task REF-\d{4}-\d{6}-RJ-HUB \(sent\): it will be cancelled", text)
    assert "Name, Date of birth, Age, Address, Phone, Email, Safe-contact instructions" in text  # the CPN's view
    assert "cannot be undone" in text
    # Looking at the page changed nothing.
    assert (await task_of(gateway, tasks["cpn"]))["status"] == "ACCEPTED"

    done = await browser.post(link.group(1), {"idempotency_key": key()})

    assert path(done) == f"/portal/referrals/{referral_id}" and "Consent withdrawn. 2 open tasks cancelled" in done.text
    for provider, task_id in tasks.items():
        task = await task_of(gateway, task_id)
        assert (task["status"], task["statusReason"]) == ("CANCELLED", "consent-withdrawn")
        seen = (await gateway.gql(provider, PROVIDER_VIEW, {"id": task_id}))["data"]["task"]
        assert seen["status"] == "CANCELLED"
        assert seen["victim"]["redacted"] is True and seen["victim"]["givenName"] is None
        assert seen["victim"]["phone"] is None
    assert "Withdraw consent for" not in done.text


async def test_a_draft_is_sent_from_the_referral_page_under_its_consent(browsers: Any, gateway: Gateway) -> None:
    body = await gateway.gql("hub", CREATE_REFERRAL, {"input": referral_input(providers=["cpn"])})
    referral = body["data"]["createReferral"]["referral"]
    task_id = referral["tasks"][0]["id"]
    browser = await browsers("coordinator")
    page = await browser.get(f"/portal/referrals/{referral['id']}")
    assert "Send task REF-" in page.text and "without consent" not in page.text
    key_field = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key_field is not None
    send = f"/portal/referrals/{referral['id']}/tasks/{task_id}/send"

    done = await browser.post(send, {"version": "1", "idempotency_key": key_field.group(1)})
    again = await browser.post(send, {"version": "1", "idempotency_key": key_field.group(1)})

    assert path(done) == f"/portal/referrals/{referral['id']}" and "sent" in done.text
    assert again.status_code == 200  # the same form twice is one change
    task = await task_of(gateway, task_id)
    assert (task["status"], task["version"]) == ("REQUESTED", 2)


async def test_a_new_consent_recorded_on_the_referral_opens_re_routing_to_that_provider(
    browsers: Any, gateway: Gateway
) -> None:
    sent = await sent_task(gateway, "cpn", needs=TWO_NEEDS)  # the consent covers the CPN service only
    change = {"taskId": sent.task_id, "expectedVersion": sent.version, "idempotencyKey": key(), "reason": "NO_CAPACITY"}
    await gateway.gql("cpn", REJECT, {"i": change})
    browser = await browsers("coordinator")
    reroute = f"/portal/referrals/{sent.referral_id}/tasks/{sent.task_id}/reroute"
    page = await browser.get(reroute)
    assert 'value="rj-hub"' not in page.text and "no consent standing now covers this provider" in page.text
    choose = await browser.get(f"/portal/referrals/{sent.referral_id}/consents/new")
    record = f"/portal/referrals/{sent.referral_id}/consents/new/rj-hub"
    assert f'href="{record}"' in choose.text
    await browser.get(record)

    refused = await browser.post(record, {"method": "verbal"})
    assert refused.status_code == 400 and 'href="#given_by"' in refused.text and 'href="#given_on-day"' in refused.text
    body = await gateway.gql(
        "hub", "query($id: ID!) { referral(id: $id) { consents { providers } } }", {"id": sent.referral_id}
    )
    assert body["data"]["referral"]["consents"] == [{"providers": ["cpn"]}]

    recorded = await browser.post(record, consent(data_categories=["name", "phone"]) | {"idempotency_key": key()})

    assert path(recorded) == f"/portal/referrals/{sent.referral_id}"
    assert "Consent to share with Restorative Justice Hub recorded" in recorded.text
    body = await gateway.gql(
        "hub", "query($id: ID!) { referral(id: $id) { consents { providers } } }", {"id": sent.referral_id}
    )
    assert sorted(c["providers"][0] for c in body["data"]["referral"]["consents"]) == ["cpn", "rj-hub"]
    page = await browser.get(reroute)
    assert 'value="rj-hub"' in page.text
    done = await browser.post(reroute, {"provider": "rj-hub", "idempotency_key": key()})
    assert "sent to Restorative Justice Hub" in done.text
