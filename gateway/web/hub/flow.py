"""The question flows: a new referral, and the triage of a self-referral, one question per page, then check and send.

The answers wait in the person's session (visit.draft), never in a URL. After each page the flow goes to the first
question still unanswered (so changing the date of birth to a child's brings in the guardian's page, and choosing
another provider its consent page), or to "check your answers" when none is left. Sending is one transaction: the
referral, its consents and every task sent, or nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from gateway.errors import DomainError
from gateway.referrals import service
from gateway.referrals.models import ArrivalRoute, DomesticAbuseRisk, ReferralTask, TaskStatus
from gateway.referrals.service import TriageReferral
from gateway.web.forms import FormErrors
from gateway.web.hub import questions as q
from gateway.web.hub.common import label, new_key, parts_date, provider_name, record_id, refusal_text
from gateway.web.visit import NotFoundPage, Visit
from providers.profile import CrimeCategory, Need, VictimField
from providers.registry import get_profile

CHECK = "check"
TITLES = {
    "victim": "About the victim",
    "date-of-birth": "What is the victim's date of birth?",
    "contact": "How can the victim be contacted?",
    "guardian": "Who is the victim's parent or guardian?",
    "safe-contact": "How can the victim be contacted safely?",
    "case": "About the crime",
    "needs": "What does the victim need?",
    "providers": "Which providers should the referral go to?",
}
# Where each page keeps its answers in the draft.
DRAFT_KEYS = {
    "victim": "victim",
    "date-of-birth": "dob",
    "contact": "contact",
    "guardian": "guardian",
    "safe-contact": "safe_contact",
    "case": "case",
    "needs": "needs",
    "providers": "providers",
}


@dataclass(frozen=True)
class Flow:
    kind: str
    draft_name: str
    steps: tuple[str, ...]

    @property
    def triage(self) -> bool:
        return self.kind == "triage"


NEW_REFERRAL = Flow("new", "referral", ("victim", "contact", "guardian", "safe-contact", "case", "needs", "providers"))
TRIAGE = Flow("triage", "triage", ("date-of-birth", "guardian", "case", "needs", "providers"))

Page = tuple[str, str | None]


def pages(flow: Flow, draft: q.Answers) -> list[Page]:
    """The questions this draft asks, in order: the guardian only for a child, a consent per chosen provider."""
    found: list[Page] = [(s, None) for s in flow.steps if s != "guardian" or q.needs_guardian(draft)]
    return found + [("consent", slug) for slug in draft.get("providers", [])]


def answered(draft: q.Answers, page: Page) -> bool:
    step, slug = page
    if step == "consent":
        consent = (draft.get("consents") or {}).get(slug)
        return consent is not None and (consent.get("given_by") != "guardian" or q.needs_guardian(draft))
    if step == "providers":
        chosen = list(draft.get("providers") or [])
        # A provider chosen before the answers changed may no longer take the case: the page is asked again.
        return bool(chosen) and set(chosen) <= q.eligible_slugs(draft)
    return DRAFT_KEYS[step] in draft


def page_url(base: str, page: Page) -> str:
    step, slug = page
    return f"{base}/consent/{slug}" if step == "consent" else f"{base}/{step}"


def next_url(flow: Flow, base: str, draft: q.Answers) -> str:
    for page in pages(flow, draft):
        if not answered(draft, page):
            return page_url(base, page)
    return f"{base}/{CHECK}"


def _back(flow: Flow, base: str, draft: q.Answers, page: Page, start: str) -> str:
    asked = pages(flow, draft)
    if page in asked and asked.index(page) > 0:
        return page_url(base, asked[asked.index(page) - 1])
    return start


def _shown(draft: q.Answers, step: str) -> q.Answers:
    """What a page shows: the answer given, or what the self-referral said, for the co-ordinator to confirm."""
    prefill = draft.get("prefill") or {}
    if step == "consent":
        return {}
    if step == "victim":
        return {**(draft.get("victim") or {}), "dob": draft.get("dob") or {}}
    if step == "date-of-birth":
        return {"dob": draft.get("dob") or prefill.get("dob") or {}}
    key = DRAFT_KEYS[step]
    value = draft.get(key, prefill.get(key))
    if step == "providers":
        return {"providers": value or []}
    return dict(value or {})


def _render_step(
    visit: Visit,
    flow: Flow,
    base: str,
    draft: q.Answers,
    page: Page,
    start: str,
    *,
    answers: q.Answers | None = None,
    errors: FormErrors | None = None,
) -> Response:
    step, slug = page
    context: dict[str, Any] = {
        "flow": flow,
        "caption": "Triage a self-referral" if flow.triage else "New referral",
        "action": page_url(base, page),
        "back": _back(flow, base, draft, page, start),
        "answers": answers if answers is not None else _shown(draft, step),
        "errors": errors or FormErrors(),
        "label": label,
        "options": q.options,
    }
    if step == "consent":
        profile = get_profile(slug or "")
        assert profile is not None
        context |= {
            "profile": profile,
            "guardian_asked": q.needs_guardian(draft),
            "fields": [f for f in VictimField if f in profile.victim_fields],
        }
        if answers is None:
            context["answers"] = dict((draft.get("consents") or {}).get(profile.slug) or {})
        title = f"Consent to share with {profile.display_name}"
    else:
        title = TITLES[step]
    if step == "case":
        context |= {
            "crime_categories": list(CrimeCategory),
            "priority_flags": q.PRIORITY_FLAGS,
            "risks": list(DomesticAbuseRisk),
        }
    if step == "needs":
        context["needs"] = list(Need)
    if step == "safe-contact":
        context["safe_flags"] = q.SAFE_FLAGS
    if step == "providers":
        context["choices"] = q.provider_choices(draft)
    template = "consent" if step == "consent" else step
    return visit.render(f"hub/flow/{template}.html", title=title, status_code=400 if errors else 200, **context)


def _read(visit: Visit, flow: Flow, draft: q.Answers, page: Page, errors: FormErrors) -> Any:
    step, slug = page
    if step == "consent":
        profile = get_profile(slug or "")
        assert profile is not None
        return q.read_consent(visit, draft, errors, profile=profile)
    if step == "case":
        return q.read_case(visit, draft, errors, ask_route=not flow.triage)
    return READERS[step](visit, draft, errors)


READERS: dict[str, Any] = {
    "victim": q.read_victim,
    "date-of-birth": q.read_date_of_birth,
    "contact": q.read_contact,
    "guardian": q.read_guardian,
    "safe-contact": q.read_safe_contact,
    "needs": q.read_needs,
    "providers": q.read_providers,
}


def _keep(draft: q.Answers, page: Page, answers: Any) -> None:
    step, slug = page
    if step == "victim":
        draft["victim"] = {k: answers[k] for k in ("given_name", "family_name")}
        draft["dob"] = answers["dob"]
    elif step == "date-of-birth":
        draft["dob"] = answers["dob"]
    elif step == "providers":
        draft["providers"] = answers
        # Consent recorded for a provider no longer chosen is not sent anywhere.
        draft["consents"] = {s: c for s, c in (draft.get("consents") or {}).items() if s in answers}
    elif step == "consent":
        assert slug is not None
        draft.setdefault("consents", {})[slug] = answers
    else:
        draft[DRAFT_KEYS[step]] = answers


async def question(visit: Visit, flow: Flow, base: str, draft: q.Answers, page: Page, start: str) -> Response:
    """One question page of a flow: show it, or take its answer and go on to the next unanswered one."""
    if page not in pages(flow, draft):
        return visit.redirect(next_url(flow, base, draft))
    if visit.request.method != "POST":
        return _render_step(visit, flow, base, draft, page, start)
    errors = FormErrors()
    answers = _read(visit, flow, draft, page, errors)
    if errors:
        shown = {"providers": answers} if page[0] == "providers" else answers
        return _render_step(visit, flow, base, draft, page, start, answers=shown, errors=errors)
    _keep(draft, page, answers)
    await visit.save_draft(flow.draft_name, draft)
    return visit.redirect(next_url(flow, base, draft))


# -- check your answers, and send -------------------------------------------------------------------------------


def unanswered(flow: Flow, draft: q.Answers) -> Page | None:
    return next((page for page in pages(flow, draft) if not answered(draft, page)), None)


def render_check(
    visit: Visit,
    flow: Flow,
    base: str,
    draft: q.Answers,
    *,
    errors: FormErrors | None = None,
    intake: Any = None,
) -> Response:
    consents = draft.get("consents") or {}
    return visit.render(
        "hub/flow/check.html",
        title="Check your answers before sending the referral",
        status_code=400 if errors else 200,
        errors=errors or FormErrors(),
        flow=flow,
        base=base,
        back=page_url(base, pages(flow, draft)[-1]),
        draft=draft,
        intake=intake,
        dob=q.date_of_birth(draft),
        guardian_asked=q.needs_guardian(draft),
        providers=[(slug, provider_name(slug), consents.get(slug, {})) for slug in draft.get("providers", [])],
        label=label,
        priority_flags=q.PRIORITY_FLAGS,
        safe_flags=q.SAFE_FLAGS,
        parts_date=parts_date,
    )


async def _send_drafts(visit: Visit, db: Any, referral_id: int, key: str) -> list[ReferralTask]:
    """Send every draft task of the referral, each with a retry key derived from the form's, so a resubmitted form
    sends nothing twice."""
    tasks = (await service.load_tasks_for_referrals(db=db, actor=visit.principal, referral_ids=[referral_id]))[
        referral_id
    ]
    sent = []
    for task in tasks:
        if task.status == TaskStatus.DRAFT.value:
            assert task.id is not None
            sent.append(
                await service.send_task(
                    db=db,
                    actor=visit.principal,
                    task_id=task.id,
                    expected_version=task.version,
                    idempotency_key=f"{key}:send:{task.provider_slug}",
                )
            )
    return sent


async def send_new_referral(visit: Visit, draft: q.Answers) -> int:
    """Create the referral with its consents and send every task, in one transaction: all of it, or nothing."""
    key = str(draft["key"])

    async def work(db: Any) -> int:
        referral = await service.create_referral(
            db=db,
            actor=visit.principal,
            victim=q.victim_input(draft),
            case=q.case_input(draft),
            consents=q.consent_inputs(draft),
            provider_slugs=list(draft["providers"]),
            idempotency_key=key,
        )
        assert referral.id is not None
        await _send_drafts(visit, db, referral.id, key)
        return referral.id

    return await visit.run(work)


async def send_triage(visit: Visit, draft: q.Answers, intake_id: int) -> int:
    """Triage the self-referral into a referral with its consents and send every task, in one transaction."""
    key = str(draft["key"])
    triage = TriageReferral(
        case=q.case_input(draft, route=ArrivalRoute.SELF_REFERRAL),
        guardian=q.guardian_input(draft),
        consents=tuple(q.consent_inputs(draft)),
        provider_slugs=tuple(draft["providers"]),
        date_of_birth=q.date_of_birth(draft),
    )

    async def work(db: Any) -> int:
        item = await service.triage_self_referral(
            db=db, actor=visit.principal, self_referral_id=intake_id, idempotency_key=key, referral=triage
        )
        assert item.referral_id is not None
        await _send_drafts(visit, db, item.referral_id, key)
        return item.referral_id

    return await visit.run(work)


def sent_message(count: int) -> str:
    return f"Referral sent to {count} provider{'s' if count != 1 else ''}"


def refusal_errors(refusal: DomainError) -> FormErrors:
    errors = FormErrors()
    errors.add("send", refusal_text(refusal))
    return errors


def path_slug(visit: Visit) -> str:
    slug = str(visit.request.path_params.get("slug", ""))
    if get_profile(slug) is None:
        raise NotFoundPage()
    return slug


def path_step(visit: Visit, flow: Flow) -> str:
    step = str(visit.request.path_params.get("step", ""))
    if step not in flow.steps:
        raise NotFoundPage()
    return step


def path_id(visit: Visit) -> int:
    return record_id(visit.request.path_params.get("id", ""))


def fresh_draft() -> q.Answers:
    return {"key": new_key()}
