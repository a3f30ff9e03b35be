"""Creating a referral in the browser: the question pages, check your answers, and send."""

from __future__ import annotations

from starlette.responses import Response

from gateway.errors import DomainError
from gateway.web.hub import flow as f
from gateway.web.hub.questions import Answers
from gateway.web.visit import Visit

BASE = "/portal/referrals/new"
START = "/portal/referrals"


def _draft(visit: Visit) -> Answers:
    draft = dict(visit.draft(f.NEW_REFERRAL.draft_name))
    return draft if draft.get("key") else f.fresh_draft()


async def start(visit: Visit) -> Response:
    """Carry on with the draft this person has, or begin one."""
    draft = _draft(visit)
    await visit.save_draft(f.NEW_REFERRAL.draft_name, draft)
    return visit.redirect(f.next_url(f.NEW_REFERRAL, BASE, draft))


async def step(visit: Visit) -> Response:
    page = (f.path_step(visit, f.NEW_REFERRAL), None)
    return await f.question(visit, f.NEW_REFERRAL, BASE, _draft(visit), page, START)


async def consent(visit: Visit) -> Response:
    page = ("consent", f.path_slug(visit))
    return await f.question(visit, f.NEW_REFERRAL, BASE, _draft(visit), page, START)


async def check(visit: Visit) -> Response:
    draft = _draft(visit)
    missing = f.unanswered(f.NEW_REFERRAL, draft)
    if missing is not None:
        return visit.redirect(f.page_url(BASE, missing))
    if visit.request.method != "POST":
        return f.render_check(visit, f.NEW_REFERRAL, BASE, draft)
    try:
        referral_id = await f.send_new_referral(visit, draft)
    except DomainError as refusal:
        return f.render_check(visit, f.NEW_REFERRAL, BASE, draft, errors=f.refusal_errors(refusal))
    await visit.clear_draft(f.NEW_REFERRAL.draft_name)
    await visit.flash(f.sent_message(len(draft["providers"])))
    return visit.redirect(f"/portal/referrals/{referral_id}")
