"""The audit-trail page of the staff portal: the officer reads the trail; nobody else reaches the page."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from gateway.auth import service as auth
from gateway.db import AsyncSession
from gateway.referrals.models import Referral
from tests.support.api import Gateway, sent_task
from tests.support.portal import StaffMember

OFFICER = StaffMember("hub", ("data-protection-officer",), "officer@portal.test", "password-of-the-officer")


async def _officer_and_victim(db: AsyncSession, gateway: Gateway) -> str:
    await auth.add_user(
        db=db, organisation_slug="hub", email=OFFICER.email, roles=list(OFFICER.roles), password=OFFICER.password
    )
    await db.commit()
    task = await sent_task(gateway, "cpn")
    read = await gateway.gql("cpn", "query($id: ID!) { task(id: $id) { victim { givenName } } }", {"id": task.task_id})
    assert read["data"]["task"]["victim"]["givenName"] == "Alex"
    referral = (await db.exec(select(Referral).where(Referral.id == int(task.referral_id)))).one()
    await db.commit()
    return str(referral.victim_id)


async def test_the_officer_reads_a_victims_trail_filtered_by_category(
    browsers: Any, db: AsyncSession, gateway: Gateway
) -> None:
    # Given a victim sent to the CPN, whose caseworker has read the victim's details
    victim = await _officer_and_victim(db, gateway)
    officer = await browsers(OFFICER)

    # When the officer opens the audit trail from the navigation and asks for the victim's disclosures
    home = await officer.get("/portal/")
    assert 'href="/portal/audit-trail"' in home.text
    page = await officer.get(f"/portal/audit-trail?victim={victim}&category=disclosure")

    # Then the page lists the referral sent and the provider's read, and nothing else
    assert page.status_code == 200
    assert "<title>Audit trail" in page.text
    assert page.text.count("task.send") == 1 and page.text.count("victim.view") == 1
    assert "referral.create" not in page.text and "Alex" not in page.text
    # And every category shows without the filter
    everything = await officer.get(f"/portal/audit-trail?victim={victim}")
    assert "task.send" in everything.text and "referral.create" in everything.text


async def test_a_bad_filter_is_an_error_summary_and_another_record_is_not_found(
    browsers: Any, db: AsyncSession, gateway: Gateway
) -> None:
    await _officer_and_victim(db, gateway)
    officer = await browsers(OFFICER)
    bad = await officer.get("/portal/audit-trail?victim=12x&since=yesterday")
    assert bad.status_code == 400
    assert "govuk-error-summary" in bad.text
    assert "record number, in digits" in bad.text
    assert "Enter the start date as a date" in bad.text
    assert "<table" not in bad.text
    missing = await officer.get("/portal/audit-trail?victim=999999")
    assert missing.status_code == 400
    assert "There is no such record in your organisation" in missing.text


async def test_nobody_else_reaches_the_page(browsers: Any, db: AsyncSession, gateway: Gateway) -> None:
    victim = await _officer_and_victim(db, gateway)
    for who in ("coordinator", "supervisor", "cpn", "commissioner", "rj-coordinator", "facilitator"):
        browser = await browsers(who)
        page = await browser.get(f"/portal/audit-trail?victim={victim}")
        assert page.status_code == 404, who
        assert "task.send" not in page.text
        home = await browser.get("/portal/")
        assert 'href="/portal/audit-trail"' not in home.text
