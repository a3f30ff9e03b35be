"""Who reaches the Hub's pages: its co-ordinators and supervisors; anyone else, and any wrong id, gets the 404 page."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support.api import Gateway, key, sent_task
from tests.web.test_hub_triage import self_referral

TASK = "query($id: ID!) { task(id: $id) { status } }"


async def hub_urls(gateway: Gateway, client: httpx.AsyncClient) -> tuple[list[str], list[str], str]:
    """Every Hub page with real ids (GET), the forms that change something (POST), and the task they touch."""
    sent = await sent_task(gateway, "cpn")
    await self_referral(client)
    queue = await gateway.gql("hub", "{ intakeQueue { items { id } } }")
    intake = queue["data"]["intakeQueue"]["items"][0]["id"]
    referral = f"/portal/referrals/{sent.referral_id}"
    task = f"{referral}/tasks/{sent.task_id}"
    pages = [
        "/portal/hub",
        "/portal/referrals",
        "/portal/referrals/new",
        "/portal/referrals/new/victim",
        "/portal/referrals/new/consent/cpn",
        "/portal/referrals/new/check",
        referral,
        f"{task}/cancel",
        f"{task}/reroute",
        f"{task}/override",
        f"{referral}/consents/{sent.consent_id}/withdraw",
        f"/portal/intake/{intake}",
        f"/portal/intake/{intake}/triage",
        f"/portal/intake/{intake}/date-of-birth",
        f"/portal/intake/{intake}/consent/cpn",
        f"/portal/intake/{intake}/check",
        f"/portal/intake/{intake}/close",
    ]
    forms = [
        f"{task}/send",
        f"{task}/cancel",
        f"{task}/override",
        f"{referral}/consents/{sent.consent_id}/withdraw",
        f"/portal/intake/{intake}/close",
        "/portal/referrals/new/victim",
    ]
    return pages, forms, sent.task_id


@pytest.mark.parametrize("who", ["cpn", "commissioner"])
async def test_nobody_outside_the_hub_reaches_a_hub_page_by_its_url(
    who: str, browsers: Any, gateway: Gateway, client: httpx.AsyncClient
) -> None:
    pages, forms, task_id = await hub_urls(gateway, client)
    browser = await browsers(who)
    missing = await browser.get("/portal/no-such-page-at-all")
    assert missing.status_code == 404

    for url in pages:
        page = await browser.get(url)
        assert page.status_code == 404 and "Page not found" in page.text, url
        assert "Alex" not in page.text and "Jo Bloggs" not in page.text
    await browser.get("/portal/")  # a page with a form, for its CSRF token
    for url in forms:
        refused = await browser.post(
            url, {"reason": "victim-request", "version": "2", "idempotency_key": key(), "given_name": "X"}
        )
        assert refused.status_code == 404, url

    assert (await gateway.gql("hub", TASK, {"id": task_id}))["data"]["task"]["status"] == "REQUESTED"
    navigation = (await browser.get("/portal/")).text
    assert 'href="/portal/hub"' not in navigation and 'href="/portal/referrals"' not in navigation


async def test_a_wrong_or_foreign_id_is_the_same_404_as_a_missing_one(
    browsers: Any, gateway: Gateway, client: httpx.AsyncClient
) -> None:
    first = await sent_task(gateway, "cpn")
    second = await sent_task(gateway, "cpn")
    browser = await browsers("coordinator")
    wrong = [
        "/portal/referrals/999999",
        "/portal/referrals/abc",
        "/portal/referrals/99999999999",
        "/portal/referrals/%C2%B2",
        # A real task, but not this referral's; a real consent, but not this victim's.
        f"/portal/referrals/{first.referral_id}/tasks/{second.task_id}/cancel",
        f"/portal/referrals/{first.referral_id}/consents/{second.consent_id}/withdraw",
        "/portal/intake/999999",
        "/portal/referrals/new/consent/not-a-provider",
        "/portal/referrals/new/not-a-question",
    ]
    for url in wrong:
        page = await browser.get(url)
        assert page.status_code == 404 and "Page not found" in page.text, url


async def test_hub_pages_keep_personal_data_out_of_titles_and_links(
    browsers: Any, gateway: Gateway, client: httpx.AsyncClient
) -> None:
    pages, _, _ = await hub_urls(gateway, client)
    browser = await browsers("supervisor")
    for url in pages:
        page = await browser.get(url)
        assert page.status_code == 200, url
        title = re.search(r"<title>(.*?)</title>", page.text, re.S).group(1)  # type: ignore[union-attr]
        links = " ".join(re.findall(r'(?:href|action)="([^"]*)"', page.text))
        for personal in ("Alex", "Example", "Jo", "Bloggs", "07700", "1992"):
            assert personal not in title and personal not in links, (url, personal)
        assert page.headers["cache-control"] == "no-store"
