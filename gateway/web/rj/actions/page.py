"""The case action page: show an action's form, read it, call the service with the form's idempotency key,
and on a refusal re-show the form with the service's message (never the values typed) over the latest case.
Apart from the forms so the request handling is read in one place.
"""

from __future__ import annotations

from starlette.responses import Response

from gateway.errors import DomainError, ErrorCode
from gateway.restorative_justice import service as rj
from gateway.web.forms import FormErrors
from gateway.web.rj.actions.catalogue import ACTIONS
from gateway.web.rj.actions.context import CaseAction, CaseContext, Values, load_context
from gateway.web.rj.common import (
    CLOSURES,
    CONSENT_METHODS,
    INTERVENTIONS,
    RISK_LEVELS,
    ROLES,
    SATISFACTION,
    fresh_key,
    idempotency_key,
    items,
    record_id,
)
from gateway.web.visit import NotFoundPage, Visit

CONFLICT_MESSAGE = (
    "Someone else changed this case while you were looking at it. This page now shows the latest: check it and"
    " try again."
)


def _render(
    visit: Visit,
    action: CaseAction,
    context: CaseContext,
    *,
    values: Values,
    errors: FormErrors | None = None,
    key: str | None = None,
    status_code: int = 200,
    clashes: list[str] | None = None,
) -> Response:
    return visit.render(
        "rj/action.html",
        status_code=status_code,
        title=action.title,
        action=action,
        case=context.detail.case,
        ctx=context,
        values=values,
        errors=errors,
        clashes=clashes,
        idempotency_key=key or fresh_key(),
        roles=items(ROLES, values.get("role")),
        consent_methods=items(CONSENT_METHODS, values.get("method")),
        risk_levels=items(RISK_LEVELS, values.get("risk")),
        interventions=items(INTERVENTIONS, values.get("kind")),
        satisfaction=items(SATISFACTION, values.get("satisfaction")),
        closures=items(CLOSURES, values.get("reason")),
    )


async def case_action_page(visit: Visit) -> Response:
    case_id = record_id(visit, "case_id")
    action = ACTIONS.get(str(visit.request.path_params.get("action", "")))
    if action is None or not any(visit.has(scope) for scope in action.scopes):
        raise NotFoundPage()
    context = await visit.read(lambda db: load_context(db, visit.principal, case_id))
    if visit.request.method == "GET":
        return _render(visit, action, context, values={})
    errors = FormErrors()
    values, arguments = action.parse(visit, errors, context)
    key = idempotency_key(visit)
    if errors:
        return _render(visit, action, context, values=values, errors=errors, key=key, status_code=400)
    if action.slug == "book" and visit.field("check", limit=10):
        try:
            clashes = await visit.run(
                lambda db: rj.booking_clashes(
                    db=db, actor=visit.principal, case_id=case_id, booking=arguments["booking"]
                )
            )
        except DomainError as refusal:
            errors.add(action.first_field, refusal.message)
            return _render(visit, action, context, values=values, errors=errors, key=key, status_code=400)
        return _render(visit, action, context, values=values, key=key, clashes=clashes)
    try:
        await visit.run(lambda db: action.call(db, visit.principal, context, arguments, key))
    except DomainError as refusal:
        if refusal.code is ErrorCode.NOT_FOUND:
            raise NotFoundPage() from refusal
        message = CONFLICT_MESSAGE if refusal.code is ErrorCode.CONFLICT else refusal.message
        errors.add(action.first_field, message)
        fresh = await visit.read(lambda db: load_context(db, visit.principal, case_id))
        return _render(visit, action, fresh, values=values, errors=errors, key=fresh_key(), status_code=400)
    await visit.flash(action.done)
    return visit.redirect(f"/portal/rj/cases/{case_id}")
