"""Triage: a self-referral becomes a referral with its providers and consents, without retyping the person."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gateway.errors import DomainError
from gateway.referrals import service
from gateway.referrals.models import IntakeStatus, SelfReferral
from gateway.referrals.service import IntakeCloseReason
from gateway.web.forms import FormErrors
from gateway.web.hub import flow as f
from gateway.web.hub.common import date_parts, label, new_key, refusal_text
from gateway.web.visit import Visit


def _base(intake_id: int) -> str:
    return f"/portal/intake/{intake_id}"


async def _item(visit: Visit, intake_id: int) -> SelfReferral:
    return await visit.read(
        lambda db: service.get_intake_item(db=db, actor=visit.principal, self_referral_id=intake_id)
    )


def _prefill(item: SelfReferral) -> dict[str, Any]:
    """What the person told us, shown on the triage pages for the co-ordinator to confirm or correct."""
    case: dict[str, Any] = {}
    if item.crime_category:
        case["crime_category"] = item.crime_category
    if item.reported_to_police is not None:
        case["reported_to_police"] = "yes" if item.reported_to_police else "no"
    return {
        "dob": date_parts(item.date_of_birth) if item.date_of_birth else {},
        "case": case,
        "needs": {"needs": list(item.needs)},
    }


def _draft(visit: Visit, item: SelfReferral) -> dict[str, Any]:
    draft = dict(visit.draft(f.TRIAGE.draft_name))
    if draft.get("intake_id") != item.id or not draft.get("key"):
        draft = f.fresh_draft() | {"intake_id": item.id, "prefill": _prefill(item)}
    return draft


async def intake_page(visit: Visit) -> Response:
    intake_id = f.path_id(visit)
    item = await _item(visit, intake_id)
    return visit.render(
        "hub/intake.html",
        title=f"Self-referral {item.confirmation_reference}",
        item=item,
        is_new=item.status == IntakeStatus.NEW.value,
        label=label,
    )


async def start(visit: Visit) -> Response:
    item = await _item(visit, f.path_id(visit))
    if item.status != IntakeStatus.NEW.value:
        return visit.redirect(_base(item.id or 0))
    draft = _draft(visit, item)
    await visit.save_draft(f.TRIAGE.draft_name, draft)
    return visit.redirect(f.next_url(f.TRIAGE, _base(item.id or 0), draft))


async def _question(visit: Visit, page: f.Page) -> Response:
    item = await _item(visit, f.path_id(visit))
    base = _base(item.id or 0)
    if item.status != IntakeStatus.NEW.value:
        return visit.redirect(base)
    return await f.question(visit, f.TRIAGE, base, _draft(visit, item), page, base)


async def step(visit: Visit) -> Response:
    return await _question(visit, (f.path_step(visit, f.TRIAGE), None))


async def consent(visit: Visit) -> Response:
    return await _question(visit, ("consent", f.path_slug(visit)))


async def check(visit: Visit) -> Response:
    item = await _item(visit, f.path_id(visit))
    base = _base(item.id or 0)
    if item.status != IntakeStatus.NEW.value:
        return visit.redirect(base)
    draft = _draft(visit, item)
    missing = f.unanswered(f.TRIAGE, draft)
    if missing is not None:
        return visit.redirect(f.page_url(base, missing))
    if visit.request.method != "POST":
        return f.render_check(visit, f.TRIAGE, base, draft, intake=item)
    try:
        referral_id = await f.send_triage(visit, draft, item.id or 0)
    except DomainError as refusal:
        return f.render_check(visit, f.TRIAGE, base, draft, intake=item, errors=f.refusal_errors(refusal))
    await visit.clear_draft(f.TRIAGE.draft_name)
    await visit.flash(f.sent_message(len(draft["providers"])))
    return visit.redirect(f"/portal/referrals/{referral_id}")


CLOSE_REASONS = tuple(IntakeCloseReason)


async def close(visit: Visit) -> Response:
    """Close a self-referral without a referral, with a reason."""
    item = await _item(visit, f.path_id(visit))
    base = _base(item.id or 0)
    if item.status != IntakeStatus.NEW.value:
        return visit.redirect(base)
    errors = FormErrors()
    reason = visit.field("reason", limit=64)
    key = visit.field("idempotency_key", limit=200) or new_key()
    if visit.request.method == "POST":
        if reason not in CLOSE_REASONS:
            errors.add("reason", "Select why the self-referral is closed")
        else:
            try:
                await visit.run(
                    lambda db: service.triage_self_referral(
                        db=db,
                        actor=visit.principal,
                        self_referral_id=item.id or 0,
                        idempotency_key=key,
                        close_reason=IntakeCloseReason(reason),
                    )
                )
            except DomainError as refusal:
                errors.add("reason", refusal_text(refusal))
            else:
                await visit.flash(f"Self-referral {item.confirmation_reference} closed")
                return visit.redirect("/portal/hub")
    return visit.render(
        "hub/intake_close.html",
        title=f"Close self-referral {item.confirmation_reference}",
        status_code=400 if errors else 200,
        errors=errors,
        item=item,
        reasons=CLOSE_REASONS,
        reason=reason,
        key=key,
        back=base,
        label=label,
    )
