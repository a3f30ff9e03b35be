"""A referral's page and what the Hub does from it: send, cancel, re-route, override, and withdraw a consent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.responses import Response

from gateway.auth.principal import Scope
from gateway.clock import as_utc, utc_now
from gateway.consent import service as consent_service
from gateway.consent.models import Consent
from gateway.consent.service import ConsentState, consent_standing
from gateway.directory.service import list_provider_profiles
from gateway.errors import DomainError
from gateway.referrals import service
from gateway.referrals.models import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    CancelReason,
    Case,
    Referral,
    ReferralTask,
    TaskStatus,
)
from gateway.referrals.service import eligibility_problems
from gateway.victims import service as victim_service
from gateway.victims.models import Victim
from gateway.victims.service import age_on
from gateway.web.forms import FormErrors
from gateway.web.hub import questions
from gateway.web.hub.common import (
    STATUS_TAG_CLASSES,
    date_parts,
    label,
    new_key,
    provider_name,
    record_id,
    refusal_text,
)
from gateway.web.templating import LONDON
from gateway.web.visit import NotFoundPage, Visit
from providers.profile import ProviderProfile, VictimField
from providers.registry import get_profile

CANCEL_REASONS = tuple(r for r in CancelReason if r is not CancelReason.CONSENT_WITHDRAWN)
JUSTIFICATION_MAX = 2000


@dataclass(frozen=True)
class Moment:
    at: datetime
    title: str
    detail: str = ""


@dataclass
class ReferralView:
    """Everything the referral's page shows, read through the services in one transaction."""

    referral: Referral
    tasks: list[ReferralTask]
    case: Case | None
    victim: Victim | None
    consents: list[Consent]
    attempts: dict[int, list[Any]] = field(default_factory=dict)

    def task(self, task_id: int) -> ReferralTask:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise NotFoundPage()

    def consent(self, consent_id: int) -> Consent:
        for consent in self.consents:
            if consent.id == consent_id:
                return consent
        raise NotFoundPage()

    def consent_state(self, slug: str) -> ConsentState:
        return consent_standing(self.consents, provider_slug=slug, now=utc_now()).state

    @property
    def replaced(self) -> set[int]:
        return {t.replaces_task_id for t in self.tasks if t.replaces_task_id is not None}

    def reroutable(self, task: ReferralTask) -> bool:
        """Finished work nothing has replaced yet; entered-in-error is a mistake, not work to pass on."""
        return (
            task.status in TERMINAL_STATUSES
            and task.status != TaskStatus.ENTERED_IN_ERROR.value
            and task.id not in self.replaced
        )

    def timeline(self, task: ReferralTask) -> list[Moment]:
        """The task's history, newest first, from the moments the gateway recorded on it."""
        moments = [Moment(task.created_at, "Draft created")]
        if task.requested_at:
            how = "Sent without consent under a safeguarding override" if task.safeguarding_override else ""
            moments.append(Moment(task.requested_at, "Sent to the provider", how))
        if task.viewed_at:
            moments.append(Moment(task.viewed_at, "Opened by the provider"))
        if task.accepted_at:
            moments.append(Moment(task.accepted_at, "Accepted"))
        for attempt in self.attempts.get(task.id or 0, []):
            moments.append(
                Moment(attempt.attempted_at, "Contact attempt", f"{label(attempt.method)}: {label(attempt.result)}")
            )
        if task.first_contact_at:
            moments.append(Moment(task.first_contact_at, "First contact made"))
        if task.closed_at:
            moments.append(Moment(task.closed_at, label(task.status), label(task.status_reason)))
        return sorted(moments, key=lambda m: as_utc(m.at), reverse=True)


async def load_view(visit: Visit, referral_id: int) -> ReferralView:
    async def read(db: Any) -> ReferralView:
        actor = visit.principal
        referral = await service.get_referral(db=db, actor=actor, referral_id=referral_id)
        tasks = (await service.load_tasks_for_referrals(db=db, actor=actor, referral_ids=[referral_id]))[referral_id]
        cases = await service.load_cases_for_referrals(db=db, actor=actor, referral_ids=[referral_id])
        victims = await victim_service.load_victims(db=db, actor=actor, victim_ids=[referral.victim_id])
        consents = await consent_service.load_consents_for_victims(db=db, actor=actor, victim_ids=[referral.victim_id])
        attempts = await service.load_contact_attempts_for_tasks(
            db=db, actor=actor, task_ids=[t.id for t in tasks if t.id is not None]
        )
        return ReferralView(
            referral=referral,
            tasks=tasks,
            case=cases.get(referral_id),
            victim=victims.get(referral.victim_id),
            consents=consents.get(referral.victim_id, []),
            attempts=attempts,
        )

    return await visit.read(read)


def _ids(visit: Visit, name: str) -> int:
    return record_id(visit.request.path_params.get(name, ""))


def _common(view: ReferralView) -> dict[str, Any]:
    return {
        "view": view,
        "label": label,
        "provider_name": provider_name,
        "tag_classes": STATUS_TAG_CLASSES,
        "overdue_reasons": service.overdue_reasons,
        "open_statuses": {s.value for s in OPEN_STATUSES},
        "base": f"/portal/referrals/{view.referral.id}",
    }


def render_referral(visit: Visit, view: ReferralView, *, errors: FormErrors | None = None) -> Response:
    return visit.render(
        "hub/referral.html",
        title=f"Referral {view.referral.reference}",
        status_code=400 if errors else 200,
        errors=errors or FormErrors(),
        key=new_key(),
        can_override=visit.has(Scope.CONSENT_OVERRIDE),
        **_common(view),
    )


async def referral_page(visit: Visit) -> Response:
    return render_referral(visit, await load_view(visit, _ids(visit, "id")))


def _version(visit: Visit) -> int:
    text = visit.field("version", limit=10)
    return int(text) if text.isascii() and text.isdigit() else -1


async def send_draft(visit: Visit) -> Response:
    """Send a draft task under the consent that covers its provider."""
    view = await load_view(visit, _ids(visit, "id"))
    task = view.task(_ids(visit, "task_id"))
    key = visit.field("idempotency_key", limit=200) or new_key()
    try:
        await visit.run(
            lambda db: service.send_task(
                db=db,
                actor=visit.principal,
                task_id=task.id or 0,
                expected_version=_version(visit),
                idempotency_key=key,
            )
        )
    except DomainError as refusal:
        errors = FormErrors()
        errors.add(f"task-{task.id}", refusal_text(refusal))
        return render_referral(visit, await load_view(visit, view.referral.id or 0), errors=errors)
    await visit.flash(f"Task {task.reference} sent")
    return visit.redirect(f"/portal/referrals/{view.referral.id}")


async def cancel(visit: Visit) -> Response:
    """Cancel a task with a reason; the provider is told."""
    view = await load_view(visit, _ids(visit, "id"))
    task = view.task(_ids(visit, "task_id"))
    if task.status not in {s.value for s in OPEN_STATUSES}:
        return visit.redirect(f"/portal/referrals/{view.referral.id}")  # already closed: the page shows how
    errors = FormErrors()
    reason = visit.field("reason", limit=64)
    key = visit.field("idempotency_key", limit=200) or new_key()
    version = task.version
    if visit.request.method == "POST":
        if reason not in CANCEL_REASONS:
            errors.add("reason", "Select why the task is cancelled")
        else:
            try:
                await visit.run(
                    lambda db: service.cancel_task(
                        db=db,
                        actor=visit.principal,
                        task_id=task.id or 0,
                        expected_version=_version(visit),
                        idempotency_key=key,
                        reason=CancelReason(reason),
                    )
                )
            except DomainError as refusal:
                errors.add("reason", refusal_text(refusal))
                key = new_key()  # the refused change was rolled back with its key: the retry is a new request
            else:
                await visit.flash(f"Task {task.reference} cancelled")
                return visit.redirect(f"/portal/referrals/{view.referral.id}")
    return visit.render(
        "hub/cancel.html",
        title=f"Cancel task {task.reference}",
        status_code=400 if errors else 200,
        errors=errors,
        task=task,
        reason=reason,
        reasons=CANCEL_REASONS,
        key=key,
        version=version,
        **_common(view),
    )


@dataclass(frozen=True)
class RouteChoice:
    slug: str
    name: str
    problems: tuple[str, ...]


def _problems(view: ReferralView, profile: ProviderProfile) -> list[str]:
    """The provider's eligibility rules (the API's own) this victim and case do not meet today."""
    age = age_on(view.victim.date_of_birth if view.victim else None, utc_now().astimezone(LONDON).date())
    case = view.case
    return eligibility_problems(
        profile, age=age, crime_category=case.crime_category if case else "", needs=case.needs if case else []
    )


def _route_choices(view: ReferralView, task: ReferralTask) -> list[RouteChoice]:
    """Every other provider, with why it cannot take the work: eligibility, unfinished work, or no consent."""
    unfinished = {t.provider_slug for t in view.tasks if t.status not in TERMINAL_STATUSES}
    found = []
    for profile in list_provider_profiles():
        if profile.slug == task.provider_slug:
            continue
        problems = _problems(view, profile)
        if profile.slug in unfinished:
            problems.append("already has unfinished work on this referral")
        if view.consent_state(profile.slug) is not ConsentState.VALID:
            problems.append("no consent standing now covers this provider")
        found.append(RouteChoice(profile.slug, profile.display_name, tuple(problems)))
    return found


async def reroute(visit: Visit) -> Response:
    """Pass finished work to another eligible provider: a new task linked to the old one, sent at once."""
    view = await load_view(visit, _ids(visit, "id"))
    task = view.task(_ids(visit, "task_id"))
    if not view.reroutable(task):
        return visit.redirect(f"/portal/referrals/{view.referral.id}")
    choices = _route_choices(view, task)
    errors = FormErrors()
    chosen = visit.field("provider", limit=64)
    key = visit.field("idempotency_key", limit=200) or new_key()
    if visit.request.method == "POST":
        choice = next((c for c in choices if c.slug == chosen), None)
        if choice is None:
            errors.add("provider", "Select the provider to send the work to")
        elif choice.problems:
            errors.add("provider", f"{choice.name} cannot take this referral: {'; '.join(choice.problems)}")
        else:

            async def work(db: Any) -> ReferralTask:
                added = await service.create_follow_up_task(
                    db=db, actor=visit.principal, task_id=task.id or 0, provider_slug=chosen, idempotency_key=key
                )
                return await service.send_task(
                    db=db,
                    actor=visit.principal,
                    task_id=added.id or 0,
                    expected_version=added.version,
                    idempotency_key=f"{key}:send",
                )

            try:
                sent = await visit.run(work)
            except DomainError as refusal:
                errors.add("provider", refusal_text(refusal))
                key = new_key()
            else:
                await visit.flash(f"Task {sent.reference} sent to {provider_name(chosen)}")
                return visit.redirect(f"/portal/referrals/{view.referral.id}")
    return visit.render(
        "hub/reroute.html",
        title=f"Re-route task {task.reference}",
        status_code=400 if errors else 200,
        errors=errors,
        task=task,
        choices=choices,
        chosen=chosen,
        key=key,
        **_common(view),
    )


async def override(visit: Visit) -> Response:
    """A supervisor sends a draft without consent, for safeguarding, with a written justification."""
    view = await load_view(visit, _ids(visit, "id"))
    task = view.task(_ids(visit, "task_id"))
    if task.status != TaskStatus.DRAFT.value or view.consent_state(task.provider_slug) is ConsentState.VALID:
        return visit.redirect(f"/portal/referrals/{view.referral.id}")
    errors = FormErrors()
    justification = visit.field("justification", limit=JUSTIFICATION_MAX)
    key = visit.field("idempotency_key", limit=200) or new_key()
    if visit.request.method == "POST":
        if not justification:
            errors.add("justification", "Enter why the victim's details must be shared without consent")
        elif len(justification) > JUSTIFICATION_MAX:
            errors.add("justification", f"The justification must be {JUSTIFICATION_MAX} characters or fewer")
        else:
            try:
                await visit.run(
                    lambda db: service.send_task(
                        db=db,
                        actor=visit.principal,
                        task_id=task.id or 0,
                        expected_version=_version(visit),
                        idempotency_key=key,
                        safeguarding_justification=justification,
                    )
                )
            except DomainError as refusal:
                errors.add("justification", refusal_text(refusal))
                key = new_key()
            else:
                await visit.flash(f"Task {task.reference} sent under a safeguarding override")
                return visit.redirect(f"/portal/referrals/{view.referral.id}")
    return visit.render(
        "hub/override.html",
        title=f"Send task {task.reference} without consent",
        status_code=400 if errors else 200,
        errors=errors,
        task=task,
        justification=justification,
        key=key,
        version=task.version,
        **_common(view),
    )


@dataclass(frozen=True)
class Loss:
    """What one provider loses when a consent is withdrawn."""

    name: str
    fields: list[str]
    cancelled: list[ReferralTask]
    unsendable: list[ReferralTask]


def _losses(view: ReferralView, consent: Consent) -> list[Loss]:
    losses = []
    for slug in consent.provider_slugs:
        profile = get_profile(slug)
        seen = profile.victim_fields if profile is not None else frozenset()
        losses.append(
            Loss(
                name=provider_name(slug),
                fields=[label(f.value) for f in VictimField if f in seen and f.value in consent.data_categories],
                cancelled=[t for t in view.tasks if t.provider_slug == slug and t.status in OPEN_STATUSES],
                unsendable=[t for t in view.tasks if t.provider_slug == slug and t.status == TaskStatus.DRAFT.value],
            )
        )
    return losses


async def withdraw(visit: Visit) -> Response:
    """Withdraw a consent, after a page that says exactly what each provider loses and which work stops."""
    view = await load_view(visit, _ids(visit, "id"))
    consent = view.consent(_ids(visit, "consent_id"))
    if consent.withdrawn_at is not None:
        return visit.redirect(f"/portal/referrals/{view.referral.id}")
    errors = FormErrors()
    key = visit.field("idempotency_key", limit=200) or new_key()
    if visit.request.method == "POST":
        try:
            await visit.run(
                lambda db: service.withdraw_consent(
                    db=db, actor=visit.principal, consent_id=consent.id or 0, idempotency_key=key
                )
            )
        except DomainError as refusal:
            errors.add("withdraw", refusal_text(refusal))
            key = new_key()
        else:
            cancelled = sum(len(loss.cancelled) for loss in _losses(view, consent))
            await visit.flash(f"Consent withdrawn. {cancelled} open task{'s' if cancelled != 1 else ''} cancelled")
            return visit.redirect(f"/portal/referrals/{view.referral.id}")
    return visit.render(
        "hub/withdraw.html",
        title="Withdraw this consent",
        status_code=400 if errors else 200,
        errors=errors,
        consent=consent,
        losses=_losses(view, consent),
        key=key,
        **_common(view),
    )


def _consent_choices(view: ReferralView) -> list[RouteChoice]:
    """Every provider, with the eligibility rules this victim and case do not meet (consent may still be recorded)."""
    return [RouteChoice(p.slug, p.display_name, tuple(_problems(view, p))) for p in list_provider_profiles()]


async def consent_providers(visit: Visit) -> Response:
    """Choose whom a new consent lets the Hub share with, e.g. before re-routing to a provider not yet covered."""
    view = await load_view(visit, _ids(visit, "id"))
    return visit.render(
        "hub/consent_providers.html",
        title="Record a new consent",
        errors=FormErrors(),
        choices=_consent_choices(view),
        states={p.slug: view.consent_state(p.slug).value for p in list_provider_profiles()},
        **_common(view),
    )


async def new_consent(visit: Visit) -> Response:
    """Record a consent given by, or for, the referral's victim to share with one provider."""
    view = await load_view(visit, _ids(visit, "id"))
    profile = get_profile(str(visit.request.path_params.get("slug", "")))
    if profile is None:
        raise NotFoundPage()
    base = f"/portal/referrals/{view.referral.id}"
    # Who may consent follows the victim's age now, as in the question flow.
    facts = {"dob": date_parts(view.victim.date_of_birth if view.victim else None)}
    errors = FormErrors()
    answers: questions.Answers = {}
    key = visit.field("idempotency_key", limit=200) or new_key()
    if visit.request.method == "POST":
        answers = questions.read_consent(visit, facts, errors, profile=profile)
        if not errors:
            try:
                await visit.run(
                    lambda db: service.record_referral_consent(
                        db=db,
                        actor=visit.principal,
                        referral_id=view.referral.id or 0,
                        consent=questions.consent_input(profile.slug, answers),
                        idempotency_key=key,
                    )
                )
            except DomainError as refusal:
                errors.add("given_by", refusal_text(refusal))
                key = new_key()
            else:
                await visit.flash(f"Consent to share with {profile.display_name} recorded")
                return visit.redirect(base)
    return visit.render(
        "hub/flow/consent.html",
        title=f"Consent to share with {profile.display_name}",
        status_code=400 if errors else 200,
        errors=errors,
        caption=f"Referral {view.referral.reference}",
        action=f"{base}/consents/new/{profile.slug}",
        back=f"{base}/consents/new",
        answers=answers,
        label=label,
        options=questions.options,
        profile=profile,
        guardian_asked=questions.needs_guardian(facts),
        fields=[f for f in VictimField if f in profile.victim_fields],
        key=key,
        button="Record the consent",
    )
