"""The provider's actions on a task, each its own small form: the same service call the GraphQL mutation makes.

Every form carries the task's version as the caseworker saw it and a fresh idempotency key: a form submitted twice
is one change, and a form left open while a colleague acted is refused as a conflict and shown again with the
latest state, never applied over the colleague's change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from gateway.auth.principal import Scope
from gateway.clock import ALLOWED_CLOCK_SKEW, utc_now
from gateway.errors import DomainError, ErrorCode
from gateway.outcomes import service as outcomes
from gateway.outcomes.models import MeasureResult
from gateway.outcomes.service import MAX_SCORE, MIN_SCORE, OutcomeRecordInput
from gateway.referrals import service
from gateway.referrals.models import ReferralTask
from gateway.web.forms import FormErrors
from gateway.web.portal import Portal
from gateway.web.provider.common import (
    CONTACT_METHODS,
    CONTACT_RESULTS,
    FAIL_REASONS,
    REJECT_REASONS,
    STATUS_LABELS,
    STATUS_TAGS,
    task_id_from,
)
from gateway.web.provider.task import actions_for
from gateway.web.templating import LONDON
from gateway.web.visit import NotFoundPage, Visit
from providers.profile import MojOutcome
from providers.registry import get_profile

CONFLICT_MESSAGE = (
    "Someone else changed this task while you were looking at it. This page now shows the latest: check it and"
    " try again."
)
STALE_FORM_MESSAGE = "This form is out of date. This page now shows the latest: check it and try again."
KEY_LIMIT = 200  # the idempotency service's own bound
_VERSION = re.compile(r"[0-9]{1,9}")
_TIME = re.compile(r"([0-9]{1,2})(?:[:.]([0-9]{2}))?\s*(am|pm)?", re.IGNORECASE)
_SCORE = re.compile(r"[0-9]{1,3}")

MOJ_MEASURES: dict[str, str] = {
    MojOutcome.INFORMED_AND_EMPOWERED: "Better informed and empowered",
    MojOutcome.HEALTH_AND_WELLBEING: "Improved health and wellbeing",
    MojOutcome.COPE_AND_RECOVER: "Better able to cope and recover",
    MojOutcome.FEELING_SAFER: "Feeling safer",
}
MEASURE_RESULTS: dict[str, str] = {
    MeasureResult.IMPROVED: "Improved",
    MeasureResult.NOT_IMPROVED: "Not improved",
    MeasureResult.NOT_APPLICABLE: "Not applicable",
    MeasureResult.NOT_ASKED: "Not asked",
}

Values = dict[str, Any]
Parse = Callable[[Visit, FormErrors, ReferralTask], tuple[Values, dict[str, Any]]]


def _nothing(visit: Visit, errors: FormErrors, task: ReferralTask) -> tuple[Values, dict[str, Any]]:
    return {}, {}


def _choice(visit: Visit, errors: FormErrors, name: str, choices: dict[str, str], message: str) -> str:
    value = visit.field(name, limit=64)
    if value not in choices:
        errors.add(name, message)
    return value


def _reason(choices: dict[str, str], message: str) -> Parse:
    def parse(visit: Visit, errors: FormErrors, task: ReferralTask) -> tuple[Values, dict[str, Any]]:
        reason = _choice(visit, errors, "reason", choices, message)
        return {"reason": reason}, {"reason": reason}

    return parse


def read_moment(visit: Visit, errors: FormErrors, prefix: str, what: str) -> tuple[Values, datetime | None]:
    """A moment typed as a UK local date (day, month, year) and a time of day, as UTC; never in the future."""
    values = {part: visit.field(f"{prefix}-{part}", limit=4) for part in ("day", "month", "year")}
    values["time"] = visit.field(f"{prefix}-time", limit=10)
    moment: datetime | None = None
    if not any(values[part] for part in ("day", "month", "year")):
        errors.add(f"{prefix}-day", f"Enter the date of the {what}")
    elif not all(values[part].isascii() and values[part].isdigit() for part in ("day", "month", "year")):
        errors.add(f"{prefix}-day", f"The date of the {what} must be a real date")
    time = _TIME.fullmatch(values["time"])
    if not values["time"]:
        errors.add(f"{prefix}-time", f"Enter the time of the {what}")
    elif time is None:
        errors.add(f"{prefix}-time", f"Enter the time of the {what} like 14:30 or 2:30pm")
    if errors:
        return values, None
    assert time is not None
    hour, minute, half = int(time.group(1)), int(time.group(2) or 0), (time.group(3) or "").lower()
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0) if 1 <= hour <= 12 else 99
    try:
        local = datetime(int(values["year"]), int(values["month"]), int(values["day"]), tzinfo=LONDON)
    except ValueError:
        errors.add(f"{prefix}-day", f"The date of the {what} must be a real date")
        return values, None
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        errors.add(f"{prefix}-time", f"Enter the time of the {what} like 14:30 or 2:30pm")
        return values, None
    moment = local.replace(hour=hour, minute=minute).astimezone(UTC)
    if moment > utc_now() + ALLOWED_CLOCK_SKEW:  # the service's own allowance for clocks that differ
        errors.add(f"{prefix}-day", f"The {what} must be in the past")
    return values, moment


def _contact_attempt(visit: Visit, errors: FormErrors, task: ReferralTask) -> tuple[Values, dict[str, Any]]:
    values, moment = read_moment(visit, errors, "attempted", "contact attempt")
    method = _choice(visit, errors, "method", CONTACT_METHODS, "Select how you tried to contact the person")
    result = _choice(visit, errors, "result", CONTACT_RESULTS, "Select what happened")
    values |= {"method": method, "result": result}
    return values, {"attempted_at": moment, "method": method, "result": result}


def _first_contact(visit: Visit, errors: FormErrors, task: ReferralTask) -> tuple[Values, dict[str, Any]]:
    values, moment = read_moment(visit, errors, "contacted", "first contact")
    return values, {"contacted_at": moment}


def provider_measures(task: ReferralTask) -> list[dict[str, str]]:
    profile = get_profile(task.provider_slug)
    return [{"code": m.code, "description": m.description} for m in profile.outcome_measures] if profile else []


def _score(visit: Visit, errors: FormErrors, name: str, what: str) -> tuple[str, int | None]:
    text = visit.field(name, limit=5)
    if not text:
        return text, None
    if _SCORE.fullmatch(text) is None or not MIN_SCORE <= int(text) <= MAX_SCORE:
        errors.add(name, f"The {what} must be a whole number from {MIN_SCORE} to {MAX_SCORE}")
        return text, None
    return text, int(text)


def _outcome(visit: Visit, errors: FormErrors, task: ReferralTask) -> tuple[Values, dict[str, Any]]:
    values: Values = {}
    for code, label in MOJ_MEASURES.items():
        values[code] = _choice(visit, errors, code, MEASURE_RESULTS, f"Select a result for {label.lower()}")
    own: list[tuple[str, MeasureResult]] = []
    for measure in provider_measures(task):
        name = f"measure-{measure['code']}"
        values[name] = visit.field(name, limit=64)
        if values[name] and values[name] not in MEASURE_RESULTS:
            errors.add(name, "Select a result from the list, or not reported")
        elif values[name]:
            own.append((measure["code"], MeasureResult(values[name])))
    values["baseline-score"], baseline = _score(visit, errors, "baseline-score", "score at the start")
    values["exit-score"], exit_score = _score(visit, errors, "exit-score", "score at the end")
    if errors:
        return values, {}
    outcome = OutcomeRecordInput(
        informed_and_empowered=MeasureResult(values[MojOutcome.INFORMED_AND_EMPOWERED]),
        health_and_wellbeing=MeasureResult(values[MojOutcome.HEALTH_AND_WELLBEING]),
        cope_and_recover=MeasureResult(values[MojOutcome.COPE_AND_RECOVER]),
        feeling_safer=MeasureResult(values[MojOutcome.FEELING_SAFER]),
        provider_measures=tuple(own),
        baseline_score=baseline,
        exit_score=exit_score,
    )
    return values, {"outcome": outcome}


async def _record_contact_attempt(*, expected_version: int, **arguments: Any) -> Any:
    # An attempt is added beside the others and overwrites nothing, so the service takes no version for it.
    return await service.record_contact_attempt(**arguments)


@dataclass(frozen=True)
class Action:
    slug: str
    title: str
    button: str
    done: str
    call: Callable[..., Awaitable[Any]]
    parse: Parse = _nothing
    fields: str | None = None  # the template of the form's own questions
    first_field: str = "submit"  # where the error summary points for a refusal of the whole form
    warning: bool = False
    scopes: tuple[Scope, ...] = field(default=(Scope.TASKS_WRITE,))


ACTIONS = (
    Action("accept", "Accept task", "Accept task", "Task accepted", service.accept_task),
    Action(
        "reject",
        "Reject task",
        "Reject task",
        "Task rejected",
        service.reject_task,
        _reason(REJECT_REASONS, "Select why you are rejecting the task"),
        "provider/fields/reason.html",
        "reason",
        warning=True,
    ),
    Action(
        "contact-attempt",
        "Record a contact attempt",
        "Save contact attempt",
        "Contact attempt recorded",
        _record_contact_attempt,
        _contact_attempt,
        "provider/fields/contact_attempt.html",
        "attempted-day",
    ),
    Action(
        "first-contact",
        "Record first contact",
        "Save first contact",
        "First contact recorded",
        service.record_first_contact,
        _first_contact,
        "provider/fields/first_contact.html",
        "contacted-day",
    ),
    Action("hold", "Put task on hold", "Put on hold", "Task put on hold", service.hold_task),
    Action("resume", "Resume work on task", "Resume work", "Work resumed", service.resume_task),
    Action(
        "fail",
        "Close task as failed",
        "Close as failed",
        "Task closed as failed",
        service.fail_task,
        _reason(FAIL_REASONS, "Select why the work could not be done"),
        "provider/fields/reason.html",
        "reason",
        warning=True,
    ),
    Action(
        "complete",
        "Complete task with outcome",
        "Complete task",
        "Task completed",
        outcomes.complete_task_with_outcome,
        _outcome,
        "provider/fields/outcome.html",
        MojOutcome.INFORMED_AND_EMPOWERED.value,
        scopes=(Scope.OUTCOMES_WRITE,),
    ),
)


def _render(
    visit: Visit,
    action: Action,
    task: ReferralTask,
    *,
    errors: FormErrors | None = None,
    values: Values | None = None,
    version: int | None = None,
    key: str | None = None,
    status_code: int = 200,
) -> Response:
    return visit.render(
        "provider/action.html",
        status_code=status_code,
        title=f"{action.title}, task {task.reference}",
        action=action,
        task=task,
        available=action.slug in {a.slug for a in actions_for(task)},
        errors=errors,
        values=values or {},
        version=task.version if version is None else version,
        idempotency_key=key or uuid.uuid4().hex,
        status_label=STATUS_LABELS.get(task.status, task.status),
        status_tag=STATUS_TAGS.get(task.status, ""),
        reasons=REJECT_REASONS if action.slug == "reject" else FAIL_REASONS,
        contact_methods=CONTACT_METHODS,
        contact_results=CONTACT_RESULTS,
        moj_measures=MOJ_MEASURES,
        measure_results=MEASURE_RESULTS,
        provider_measures=provider_measures(task),
    )


def action_page(action: Action) -> Callable[[Visit], Awaitable[Response]]:
    async def page(visit: Visit) -> Response:
        task_id = task_id_from(visit)

        async def latest() -> ReferralTask:
            return await visit.read(lambda db: service.get_provider_task(db=db, actor=visit.principal, task_id=task_id))

        task = await latest()
        if visit.request.method == "GET":
            return _render(visit, action, task)
        errors = FormErrors()
        values, arguments = action.parse(visit, errors, task)
        version_text = visit.field("version", limit=12)
        key = visit.field("idempotency_key", limit=KEY_LIMIT)
        if _VERSION.fullmatch(version_text) is None or not key or len(key) > KEY_LIMIT:
            errors = FormErrors()
            errors.add(action.first_field, STALE_FORM_MESSAGE)
            return _render(visit, action, task, errors=errors, values=values, status_code=409)
        version = int(version_text)
        if errors:
            return _render(visit, action, task, errors=errors, values=values, version=version, key=key, status_code=400)
        try:
            await visit.run(
                lambda db: action.call(
                    db=db,
                    actor=visit.principal,
                    task_id=task_id,
                    expected_version=version,
                    idempotency_key=key,
                    **arguments,
                )
            )
        except DomainError as refusal:
            if refusal.code in (ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN):
                raise NotFoundPage from refusal
            if refusal.code in (ErrorCode.CONFLICT, ErrorCode.IDEMPOTENCY_KEY_REUSED):
                # A reused key is this form sent again with other answers after it was acted on (the back
                # button): out of date like a colleague's change, and shown again the same way, with a fresh form.
                stale = refusal.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
                errors.add(action.first_field, STALE_FORM_MESSAGE if stale else CONFLICT_MESSAGE)
                return _render(visit, action, await latest(), errors=errors, values=values, status_code=409)
            errors.add(action.first_field, refusal.message)
            return _render(visit, action, task, errors=errors, values=values, version=version, key=key, status_code=400)
        await visit.flash(action.done)
        return visit.redirect(f"/portal/tasks/{task_id}")

    return page


def add_action_pages(portal: Portal) -> None:
    for action in ACTIONS:
        portal.page(
            f"/tasks/{{task_id}}/{action.slug}", action_page(action), methods=("GET", "POST"), scopes=action.scopes
        )
