"""The provider's task page: safe contact first, then the status and what can be done, the victim as the provider's
profile and the consent allow, the case, the needs, the consent, the contact attempts and the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.responses import Response

from gateway.auth.principal import Principal, Scope
from gateway.clock import as_utc, utc_now
from gateway.db import AsyncSession
from gateway.referrals import service
from gateway.referrals.models import ReferralTask, TaskStatus
from gateway.referrals.service import ProviderVictimView, TaskConsentSummary
from gateway.web.provider.common import (
    CONTACT_METHODS,
    CONTACT_RESULTS,
    REASON_LABELS,
    REDACTION_REASONS,
    STATUS_LABELS,
    STATUS_TAGS,
    accept_limit,
    first_contact_limit,
    humanise,
    task_id_from,
)
from gateway.web.visit import Visit


@dataclass(frozen=True)
class TaskPage:
    task: ReferralTask
    victim: ProviderVictimView
    consent: TaskConsentSummary | None
    attempts: list[Any]


async def load_task_page(db: AsyncSession, actor: Principal, task_id: int) -> TaskPage:
    """The same service calls the GraphQL `task { victim consent contactAttempts }` makes, after stamping the
    provider's first look at the task."""
    task = await service.mark_task_viewed(db=db, actor=actor, task_id=task_id)
    victim = await service.get_victim_view_for_task(db=db, actor=actor, task_id=task_id)
    consents = await service.load_consent_summaries_for_tasks(db=db, actor=actor, task_ids=[task_id])
    attempts = await service.load_contact_attempts_for_tasks(db=db, actor=actor, task_ids=[task_id])
    return TaskPage(task=task, victim=victim, consent=consents.get(task_id), attempts=attempts.get(task_id, []))


@dataclass(frozen=True)
class ActionLink:
    slug: str
    text: str
    secondary: bool = False
    warning: bool = False


WORKING = frozenset({TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS, TaskStatus.ON_HOLD})


def actions_for(task: Any) -> list[ActionLink]:
    """The actions the task's status allows, in the order a caseworker usually takes them."""
    status = TaskStatus(task.status)
    if status is TaskStatus.REQUESTED:
        return [ActionLink("accept", "Accept task"), ActionLink("reject", "Reject task", warning=True)]
    if status not in WORKING:
        return []
    found = [ActionLink("contact-attempt", "Record a contact attempt", secondary=True)]
    if task.first_contact_at is None:
        found.append(ActionLink("first-contact", "Record first contact"))
    if status is TaskStatus.ON_HOLD:
        found.append(ActionLink("resume", "Resume work"))
    else:
        found.append(ActionLink("hold", "Put on hold", secondary=True))
        if task.first_contact_at is not None:
            found.append(ActionLink("complete", "Complete with outcome"))
    found.append(ActionLink("fail", "Close as failed", warning=True))
    return found


def history(task: Any, attempts: list[Any]) -> list[dict[str, Any]]:
    """The task's story as an MoJ timeline, newest first, from its own timestamps and contact attempts."""
    entries: list[tuple[datetime, str, str]] = []

    def add(moment: datetime | None, title: str, detail: str = "") -> None:
        if moment is not None:
            entries.append((as_utc(moment), title, detail))

    add(task.requested_at, "Referral received", "The Hub sent this task to your organisation.")
    add(task.viewed_at, "First opened", "Someone at your organisation opened the task.")
    add(task.accepted_at, "Accepted")
    for attempt in attempts:
        detail = f"{CONTACT_METHODS.get(attempt.method, attempt.method)}: {CONTACT_RESULTS.get(attempt.result, '')}"
        add(attempt.attempted_at, "Contact attempt", detail)
    add(task.first_contact_at, "First contact made")
    if task.closed_at is not None:
        reason = REASON_LABELS.get(task.status_reason or "", humanise(task.status_reason))
        add(task.closed_at, STATUS_LABELS.get(task.status, task.status), reason)
    entries.sort(key=lambda entry: entry[0], reverse=True)
    return [{"at": at, "title": title, "detail": detail} for at, title, detail in entries]


def safe_contact_warnings(victim: ProviderVictimView) -> list[str]:
    """What a caseworker must not do when reaching the person, said plainly, the most dangerous first."""
    safe = victim.safe_contact
    if safe is None:
        return []
    found = []
    if safe.perpetrator_shares_address:
        found.append("The perpetrator lives at this address: do not visit, and do not send anything to it.")
    if not safe.voicemail_safe:
        found.append("Do not leave voicemail.")
    if not safe.letters_safe:
        found.append("Do not send letters.")
    return found


async def task_page(visit: Visit) -> Response:
    task_id = task_id_from(visit)
    if not visit.has(Scope.TASKS_READ):
        # The Hub follows the same link (the notification e-mails carry it) to its own page for the referral.
        task = await visit.read(lambda db: service.get_task(db=db, actor=visit.principal, task_id=task_id))
        return visit.redirect(f"/portal/referrals/{task.referral_id}")
    page = await visit.read(lambda db: load_task_page(db, visit.principal, task_id))
    task, now = page.task, utc_now()
    return visit.render(
        "provider/task.html",
        title=f"Task {task.reference}",
        task=task,
        victim=page.victim,
        consent=page.consent,
        consent_categories=", ".join(humanise(c) for c in page.consent.data_categories) if page.consent else "",
        attempts=page.attempts,
        status_label=STATUS_LABELS.get(task.status, task.status),
        status_tag=STATUS_TAGS.get(task.status, ""),
        status_reason=REASON_LABELS.get(task.status_reason or "", humanise(task.status_reason)),
        accept=accept_limit(task, now),
        first_contact=first_contact_limit(task, now),
        actions=actions_for(task),
        history=history(task, page.attempts),
        warnings=safe_contact_warnings(page.victim),
        redaction=REDACTION_REASONS.get(page.victim.redaction_reason or "", "it can no longer be shared"),
        humanise=humanise,
        contact_methods=CONTACT_METHODS,
        contact_results=CONTACT_RESULTS,
    )
