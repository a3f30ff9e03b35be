"""The provider's actions in the portal: each form calls the same service as the API, keeps the entered values on a
mistake, changes nothing when refused, and a form left open while a colleague acted is a conflict, not an overwrite."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

from gateway.web.templating import LONDON
from tests.support.api import Gateway, key, sent_task

TASK = """
query($id: ID!) {
  task(id: $id) {
    status statusReason version firstContactAt
    contactAttempts { method result attemptedAt }
  }
}"""
_HIDDEN = re.compile(r'<input type="hidden" name="(version|idempotency_key)" value="([^"]*)"')
CONFLICT = "Someone else changed this task while you were looking at it"


async def task_state(gateway: Gateway, task_id: str, provider: str = "cpn") -> dict[str, Any]:
    found: dict[str, Any] = (await gateway.gql(provider, TASK, {"id": task_id}))["data"]["task"]
    return found


def hidden(page: Any) -> dict[str, str]:
    return {name: unescape(value) for name, value in _HIDDEN.findall(page.text)}


async def submit(browser: Any, path: str, data: dict[str, Any] | None = None) -> Any:
    """Open the action's page, as a person would, then send its form with these answers."""
    form = await browser.get(path)
    assert form.status_code == 200, form.text
    return await browser.post(path, hidden(form) | (data or {}))


async def accepted(gateway: Gateway, browser: Any, provider: str = "cpn") -> str:
    task = await sent_task(gateway, provider)
    done = await submit(browser, f"/portal/tasks/{task.task_id}/accept")
    assert done.status_code == 200 and "Task accepted" in done.text
    return task.task_id


def soon() -> datetime:
    """The next whole minute in UK time: after the task was sent (a moment before that is refused) and within the
    few minutes' allowance the gateway makes for clocks that differ."""
    return (datetime.now(LONDON) + timedelta(minutes=1)).replace(second=0, microsecond=0)


def moment(prefix: str, at: datetime | None = None, *, twelve_hour: bool = False, **typed: str) -> dict[str, str]:
    at = at or soon()
    time = at.strftime("%-I:%M%p").lower() if twelve_hour else at.strftime("%H:%M")
    answers = {"day": str(at.day), "month": str(at.month), "year": str(at.year), "time": time} | typed
    return {f"{prefix}-{part}": value for part, value in answers.items()}


def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


async def test_accept_then_the_task_page_says_so(gateway: Gateway, browsers: Any) -> None:
    browser = await browsers("cpn")
    task = await sent_task(gateway, "cpn")
    page = await browser.get(f"/portal/tasks/{task.task_id}")
    assert "Accept task" in page.text and "Reject task" in page.text
    done = await submit(browser, f"/portal/tasks/{task.task_id}/accept")
    assert done.url.path == f"/portal/tasks/{task.task_id}"
    assert "Task accepted" in done.text and "Record first contact" in done.text
    assert (await task_state(gateway, task.task_id))["status"] == "ACCEPTED"


async def test_a_double_submitted_form_is_one_change(gateway: Gateway, browsers: Any) -> None:
    browser = await browsers("cpn")
    task = await sent_task(gateway, "cpn")
    path = f"/portal/tasks/{task.task_id}/accept"
    form = hidden(await browser.get(path))
    first = await browser.post(path, form)
    again = await browser.post(path, form | {"csrf_token": browser.csrf})
    assert first.status_code == 200 and again.status_code == 200
    state = await task_state(gateway, task.task_id)
    assert state["status"] == "ACCEPTED" and state["version"] == task.version + 1


async def test_reject_needs_a_reason_from_the_list(gateway: Gateway, browsers: Any) -> None:
    browser = await browsers("cpn")
    task = await sent_task(gateway, "cpn")
    path = f"/portal/tasks/{task.task_id}/reject"
    missing = await submit(browser, path)
    assert missing.status_code == 400
    assert "There is a problem" in missing.text and 'href="#reason"' in missing.text
    assert "<title>Error: " in missing.text
    invented = await submit(browser, path, {"reason": "<b>made-up</b>"})
    assert invented.status_code == 400 and "made-up" not in invented.text
    assert (await task_state(gateway, task.task_id))["status"] == "REQUESTED"
    done = await submit(browser, path, {"reason": "no-capacity"})
    assert "Task rejected" in done.text and "We have no capacity" in done.text
    state = await task_state(gateway, task.task_id)
    assert state["status"] == "REJECTED" and state["statusReason"] == "no-capacity"


async def test_contact_attempts_and_first_contact_are_recorded_in_uk_time(gateway: Gateway, browsers: Any) -> None:
    browser = await browsers("cpn")
    task_id = await accepted(gateway, browser)
    path = f"/portal/tasks/{task_id}/contact-attempt"
    wrong = await submit(browser, path, moment("attempted", day="31", month="2") | {"method": "phone"})
    assert wrong.status_code == 400
    assert "must be a real date" in wrong.text and "Select what happened" in wrong.text
    assert 'value="31"' in wrong.text  # what was typed is kept
    future = await submit(browser, path, moment("attempted", year="2099") | {"method": "phone", "result": "no-answer"})
    assert future.status_code == 400 and "must be in the past" in future.text
    assert (await task_state(gateway, task_id))["contactAttempts"] == []
    before_sending = moment("attempted", soon() - timedelta(days=2)) | {"method": "phone", "result": "no-answer"}
    early = await submit(browser, path, before_sending)
    assert early.status_code == 400 and "cannot be before the task was sent" in early.text
    at = soon()
    done = await submit(browser, path, moment("attempted", at) | {"method": "phone", "result": "no-answer"})
    assert "Contact attempt recorded" in done.text and "No answer" in done.text
    attempts = (await task_state(gateway, task_id))["contactAttempts"]
    assert attempts == [{"method": "PHONE", "result": "NO_ANSWER", "attemptedAt": utc_text(at)}]

    path = f"/portal/tasks/{task_id}/first-contact"
    bad_time = await submit(browser, path, moment("contacted", time="25:99"))
    assert bad_time.status_code == 400 and 'href="#contacted-time"' in bad_time.text
    at = soon()
    done = await submit(browser, path, moment("contacted", at, twelve_hour=True))
    assert "First contact recorded" in done.text
    state = await task_state(gateway, task_id)
    assert state["status"] == "IN_PROGRESS" and state["firstContactAt"] == utc_text(at)


async def test_hold_resume_and_fail(gateway: Gateway, browsers: Any) -> None:
    browser = await browsers("cpn")
    task_id = await accepted(gateway, browser)
    held = await submit(browser, f"/portal/tasks/{task_id}/hold")
    assert "Task put on hold" in held.text and "Resume work" in held.text
    assert (await task_state(gateway, task_id))["status"] == "ON_HOLD"
    resumed = await submit(browser, f"/portal/tasks/{task_id}/resume")
    assert "Work resumed" in resumed.text
    assert (await task_state(gateway, task_id))["status"] == "IN_PROGRESS"
    unexplained = await submit(browser, f"/portal/tasks/{task_id}/fail")
    assert unexplained.status_code == 400 and "Select why the work could not be done" in unexplained.text
    failed = await submit(browser, f"/portal/tasks/{task_id}/fail", {"reason": "unable-to-contact"})
    assert "Task closed as failed" in failed.text
    state = await task_state(gateway, task_id)
    assert state["status"] == "FAILED" and state["statusReason"] == "unable-to-contact"
    # A closed task offers no actions; its action pages say why instead of showing a form.
    after = await browser.get(f"/portal/tasks/{task_id}/hold")
    assert "This cannot be done while the task is failed" in after.text and 'name="version"' not in after.text


async def test_complete_with_the_ministry_of_justice_and_the_providers_own_measures(
    gateway: Gateway, browsers: Any
) -> None:
    browser = await browsers("cpn")
    task_id = await accepted(gateway, browser)
    page = await browser.get(f"/portal/tasks/{task_id}")
    assert "Complete with outcome" not in page.text  # not before first contact
    await submit(browser, f"/portal/tasks/{task_id}/first-contact", moment("contacted"))
    path = f"/portal/tasks/{task_id}/complete"
    form = await browser.get(path)
    assert "Feeling safer" in form.text and "Change in wellbeing score" in form.text  # CPN's own measure
    answers = {
        "informed-and-empowered": "improved",
        "health-and-wellbeing": "improved",
        "cope-and-recover": "not-improved",
        "measure-wellbeing-score-change": "improved",
        "baseline-score": "140",
    }
    refused = await browser.post(path, hidden(form) | answers)
    assert refused.status_code == 400
    assert 'href="#feeling-safer"' in refused.text and 'href="#baseline-score"' in refused.text
    assert (await task_state(gateway, task_id))["status"] == "IN_PROGRESS"
    done = await browser.post(path, hidden(refused) | answers | {"feeling-safer": "not-asked", "baseline-score": "40"})
    assert "Task completed" in done.text
    assert (await task_state(gateway, task_id))["status"] == "COMPLETED"


async def test_a_page_left_open_while_a_colleague_acted_is_a_conflict(gateway: Gateway, browsers: Any) -> None:
    mine, colleague = await browsers("cpn"), await browsers("cpn")
    task_id = await accepted(gateway, mine)
    path = f"/portal/tasks/{task_id}/fail"
    stale = hidden(await mine.get(path))
    await submit(colleague, f"/portal/tasks/{task_id}/hold")
    held = await task_state(gateway, task_id)
    refused = await mine.post(path, stale | {"reason": "unable-to-contact", "csrf_token": mine.csrf})
    assert refused.status_code == 409
    assert CONFLICT in refused.text and "On hold" in refused.text  # the latest is shown
    assert 'value="unable-to-contact" checked' in refused.text  # and what was chosen is kept
    assert await task_state(gateway, task_id) == held
    # Checked and sent again from the refreshed page, it is judged against the latest state.
    assert hidden(refused)["version"] == str(held["version"])
    done = await mine.post(path, hidden(refused) | {"reason": "unable-to-contact"})
    assert "Task closed as failed" in done.text
    assert (await task_state(gateway, task_id))["status"] == "FAILED"


async def test_a_stale_reject_after_a_colleague_accepted_is_refused(gateway: Gateway, browsers: Any) -> None:
    mine, colleague = await browsers("cpn"), await browsers("cpn")
    task = await sent_task(gateway, "cpn")
    path = f"/portal/tasks/{task.task_id}/reject"
    stale = hidden(await mine.get(path))
    await submit(colleague, f"/portal/tasks/{task.task_id}/accept")
    refused = await mine.post(path, stale | {"reason": "no-capacity", "csrf_token": mine.csrf})
    assert refused.status_code == 409 and CONFLICT in refused.text
    assert "This cannot be done while the task is accepted" in refused.text and 'name="version"' not in refused.text
    state = await task_state(gateway, task.task_id)
    assert state["status"] == "ACCEPTED" and state["version"] == task.version + 1


async def test_a_stale_hold_after_a_colleague_recorded_first_contact_is_refused(
    gateway: Gateway, browsers: Any
) -> None:
    mine, colleague = await browsers("cpn"), await browsers("cpn")
    task_id = await accepted(gateway, mine)
    stale = hidden(await mine.get(f"/portal/tasks/{task_id}/hold"))
    await submit(colleague, f"/portal/tasks/{task_id}/first-contact", moment("contacted"))
    refused = await mine.post(f"/portal/tasks/{task_id}/hold", stale | {"csrf_token": mine.csrf})
    assert refused.status_code == 409 and CONFLICT in refused.text
    assert (await task_state(gateway, task_id))["status"] == "IN_PROGRESS"


async def test_a_tampered_version_or_key_changes_nothing(gateway: Gateway, browsers: Any) -> None:
    browser = await browsers("cpn")
    task = await sent_task(gateway, "cpn")
    path = f"/portal/tasks/{task.task_id}/accept"
    await browser.get(path)
    for form in ({"version": "x1", "idempotency_key": key()}, {"version": str(task.version)}):
        refused = await browser.post(path, form)
        assert refused.status_code == 409 and "This form is out of date" in refused.text
    assert (await task_state(gateway, task.task_id))["status"] == "REQUESTED"


async def test_an_action_without_the_csrf_token_changes_nothing(gateway: Gateway, browsers: Any) -> None:
    browser = await browsers("cpn")
    task = await sent_task(gateway, "cpn")
    path = f"/portal/tasks/{task.task_id}/accept"
    form = hidden(await browser.get(path))
    refused = await browser.post(path, form, csrf=False)
    assert refused.status_code == 403
    assert (await task_state(gateway, task.task_id))["status"] == "REQUESTED"


async def test_another_providers_caseworker_cannot_act_on_the_task(gateway: Gateway, browsers: Any) -> None:
    task = await sent_task(gateway, "cpn")
    outsider = await browsers("road-victims-trust")
    missing = await outsider.get("/portal/tasks/2147483000/accept")
    theirs = await outsider.get(f"/portal/tasks/{task.task_id}/accept")
    assert missing.status_code == theirs.status_code == 404 and missing.text == theirs.text
    await outsider.get("/portal/inbox")
    posted = await outsider.post(
        f"/portal/tasks/{task.task_id}/accept", {"version": str(task.version), "idempotency_key": key()}
    )
    assert posted.status_code == 404
    assert (await task_state(gateway, task.task_id))["status"] == "REQUESTED"
    hub = await browsers("coordinator")
    assert (await hub.get(f"/portal/tasks/{task.task_id}/accept")).status_code == 404


async def test_the_same_form_sent_again_with_other_answers_is_shown_afresh(gateway: Gateway, browsers: Any) -> None:
    browser = await browsers("cpn")
    task = await sent_task(gateway, "cpn")
    path = f"/portal/tasks/{task.task_id}/reject"
    form = hidden(await browser.get(path))
    await browser.post(path, form | {"reason": "no-capacity"})
    await browser.get(path)  # the back button: the same form, its answers changed
    again = await browser.post(path, form | {"reason": "out-of-area", "csrf_token": browser.csrf})
    assert again.status_code == 409 and "This form is out of date" in again.text
    state = await task_state(gateway, task.task_id)
    assert state["status"] == "REJECTED" and state["statusReason"] == "no-capacity"
