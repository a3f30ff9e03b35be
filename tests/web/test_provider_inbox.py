"""The provider's inbox: its organisation's sent tasks only, filtered by status and overdue, sorted by due or
received time, paged, with the time left to accept and to first contact; bad parameters are a 400, never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from gateway.auth.principal import Principal, Scope
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import Forbidden, ValidationFailed
from gateway.organisations.models import Organisation
from gateway.referrals import service
from gateway.referrals.models import ReferralTask
from gateway.referrals.service import InboxOrder
from gateway.referrals.service.reads import MAX_INBOX_OFFSET
from gateway.web.provider import inbox as inbox_module
from tests.support.api import Gateway, key, sent_task

ACCEPT = """
mutation($input: TaskChangeInput!) { acceptTask(input: $input) { __typename } }"""
REFERENCE = "query($id: ID!) { task(id: $id) { reference } }"


async def sent(gateway: Gateway, count: int, provider: str = "cpn", **options: Any) -> list[tuple[str, str]]:
    """`count` tasks sent to the provider, oldest first: (id, reference) each."""
    tasks = []
    for _ in range(count):
        task = await sent_task(gateway, provider, **options)
        found = await gateway.gql("hub", REFERENCE, {"id": task.task_id})
        tasks.append((task.task_id, found["data"]["task"]["reference"]))
    return tasks


async def due(db: AsyncSession, task_id: str, hours: float) -> None:
    """Move a task's time limit for accepting it to `hours` from now (negative: missed)."""
    await db.exec(
        sa.update(ReferralTask)
        .where(col(ReferralTask.id) == int(task_id))
        .values(accept_due_at=utc_now() + timedelta(hours=hours))
    )
    await db.commit()


def order_of(page: Any, references: list[str]) -> list[str]:
    shown = [r for r in references if r in page.text]
    return sorted(shown, key=page.text.index)


async def test_the_inbox_shows_the_organisations_tasks_and_the_time_left(gateway: Gateway, browsers: Any) -> None:
    (first_id, first), (_, second) = await sent(gateway, 2)
    (_, elsewhere) = (await sent(gateway, 1, "road-victims-trust", crime="road-collision"))[0]
    browser = await browsers("cpn")
    page = await browser.get("/portal/inbox")
    assert page.status_code == 200 and page.url.path == "/portal/inbox"
    assert first in page.text and second in page.text and elsewhere not in page.text
    assert f'href="/portal/tasks/{first_id}"' in page.text
    assert "2 tasks" in page.text and " left" in page.text and "govuk-tag--red" not in page.text
    assert "Time to accept" in page.text and "Time to first contact" in page.text
    hub = await browsers("coordinator")
    assert (await hub.get("/portal/inbox")).status_code == 404


async def test_filters_by_status_and_overdue(gateway: Gateway, browsers: Any, db: AsyncSession) -> None:
    (accepted_id, accepted), (late_id, late), (_, waiting) = await sent(gateway, 3)
    result = await gateway.gql(
        "cpn", ACCEPT, {"input": {"taskId": accepted_id, "expectedVersion": 2, "idempotencyKey": key()}}
    )
    assert result["data"]["acceptTask"]["__typename"] == "TaskPayload"
    await due(db, late_id, -3.5)
    browser = await browsers("cpn")
    only_accepted = await browser.get("/portal/inbox?status=accepted")
    assert order_of(only_accepted, [accepted, late, waiting]) == [accepted]
    assert 'value="accepted" checked' in only_accepted.text  # the filter shows what it is set to
    both = await browser.get("/portal/inbox?status=accepted&status=requested")
    assert order_of(both, [accepted, late, waiting]) == [late, waiting, accepted]
    overdue = await browser.get("/portal/inbox?overdue=yes")
    assert order_of(overdue, [accepted, late, waiting]) == [late]
    assert "govuk-tag--red" in overdue.text and "Overdue by 3 hours 30 minutes" in overdue.text
    none = await browser.get("/portal/inbox?overdue=yes&status=accepted")
    assert "No tasks match these filters" in none.text


async def test_sorts_by_due_and_received_time_with_links_that_work_without_javascript(
    gateway: Gateway, browsers: Any, db: AsyncSession
) -> None:
    tasks = await sent(gateway, 3)
    references = [reference for _, reference in tasks]
    for (task_id, _), hours in zip(tasks, (30, 10, 20), strict=True):
        await due(db, task_id, hours)
    browser = await browsers("cpn")
    by_due = await browser.get("/portal/inbox")
    assert order_of(by_due, references) == [references[1], references[2], references[0]]
    assert 'aria-sort="ascending"><a class="govuk-link" href="/portal/inbox?sort=due&amp;order=desc">' in by_due.text
    latest_due_first = await browser.get("/portal/inbox?sort=due&order=desc")
    assert order_of(latest_due_first, references) == [references[0], references[2], references[1]]
    received = await browser.get("/portal/inbox?sort=received")
    assert order_of(received, references) == references
    assert 'aria-sort="none"><a class="govuk-link" href="/portal/inbox?sort=due&amp;order=asc">' in received.text
    newest_first = await browser.get("/portal/inbox?sort=received&order=desc")
    assert order_of(newest_first, references) == references[::-1]


async def test_pages_keep_the_filters_and_the_sort(
    gateway: Gateway, browsers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_module, "PAGE_SIZE", 2)
    references = [reference for _, reference in await sent(gateway, 3)]
    browser = await browsers("cpn")
    first = await browser.get("/portal/inbox?sort=received&status=requested")
    assert order_of(first, references) == references[:2]
    assert "page 1 of 2" in first.text
    assert 'href="/portal/inbox?sort=received&amp;order=asc&amp;page=2&amp;status=requested"' in first.text
    second = await browser.get("/portal/inbox?sort=received&order=asc&page=2&status=requested")
    assert order_of(second, references) == references[2:]
    assert 'href="/portal/inbox?sort=received&amp;order=asc&amp;status=requested"' in second.text  # previous
    beyond = await browser.get("/portal/inbox?page=7")
    assert beyond.status_code == 200 and "No tasks match these filters" in beyond.text


@pytest.mark.parametrize(
    "query",
    [
        "status=draft",
        "status=zzunknown",
        "status=" + "x" * 5000,
        "overdue=zzmaybe",
        "sort=zzname",
        "order=zzsideways",
        "page=0",
        "page=-1",
        "page=zzabc",
        "page=99999999999999999999",
        "page=" + "9" * 6,
    ],
)
async def test_bad_parameters_are_a_400_that_repeats_nothing(gateway: Gateway, browsers: Any, query: str) -> None:
    browser = await browsers("cpn")
    page = await browser.get("/portal/inbox?" + query)
    assert page.status_code == 400
    assert "There is a problem" in page.text and "<title>Error: Inbox" in page.text
    assert "zz" not in page.text and "x" * 50 not in page.text


async def test_parameters_the_inbox_does_not_know_are_ignored(gateway: Gateway, browsers: Any) -> None:
    browser = await browsers("cpn")
    page = await browser.get("/portal/inbox?name=Alex&status=requested&status=requested")
    assert page.status_code == 200


async def _principal(db: AsyncSession, slug: str, *scopes: Scope) -> Principal:
    organisation = (await db.exec(select(Organisation).where(col(Organisation.slug) == slug))).one()
    assert organisation.id is not None
    return Principal(organisation_id=organisation.id, organisation_slug=slug, scopes=frozenset(scopes), user_id=1)


async def test_the_inbox_service_reaches_only_the_providers_own_sent_tasks(gateway: Gateway, db: AsyncSession) -> None:
    references = [reference for _, reference in await sent(gateway, 3)]
    cpn = await _principal(db, "cpn", Scope.TASKS_READ)
    page = await service.list_inbox_page(db=db, actor=cpn, order=InboxOrder.RECEIVED, offset=1, limit=1)
    assert page.total == 3 and [t.reference for t in page.tasks] == references[1:2]
    newest = await service.list_inbox_page(db=db, actor=cpn, order=InboxOrder.RECEIVED, descending=True, limit=5)
    assert [t.reference for t in newest.tasks] == references[::-1]
    other = await _principal(db, "family-action", Scope.TASKS_READ)
    assert (await service.list_inbox_page(db=db, actor=other)).total == 0
    with pytest.raises(Forbidden):
        await service.list_inbox_page(db=db, actor=await _principal(db, "hub", Scope.REFERRALS_READ))
    for offset, limit in ((-1, 20), (MAX_INBOX_OFFSET + 1, 20), (0, 0), (0, 101)):
        with pytest.raises(ValidationFailed):
            await service.list_inbox_page(db=db, actor=cpn, offset=offset, limit=limit)
