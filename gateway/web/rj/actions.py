"""Each step of an RJ case as its own small page and form, calling the same service function as the GraphQL
mutation. A fresh idempotency key is rendered into every form, so a form submitted twice is one change; a refusal
re-shows the form with the service's message (never the values typed) and nothing changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from gateway.auth.principal import Principal, Scope
from gateway.consent.models import ConsentMethod
from gateway.db import AsyncSession
from gateway.errors import DomainError, ErrorCode
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import (
    NOTES_MAX_LENGTH,
    REASON_MAX_LENGTH,
    ClosureReason,
    Facilitator,
    InterventionKind,
    PartyRole,
    RiskLevel,
    Satisfaction,
)
from gateway.web.forms import FormErrors, optional, required
from gateway.web.portal import NotFoundPage, Visit
from gateway.web.rj.common import (
    CLOSURES,
    CONSENT_METHODS,
    INTERVENTIONS,
    RISK_LEVELS,
    ROLES,
    SATISFACTION,
    choice,
    chosen_id,
    fresh_key,
    idempotency_key,
    items,
    party_label,
    read_date,
    read_local_moment,
    record_id,
)

MANAGE = (Scope.RJ_MANAGE,)
CASEWORK = (Scope.RJ_MANAGE, Scope.RJ_FACILITATE)
CONFLICT_MESSAGE = (
    "Someone else changed this case while you were looking at it. This page now shows the latest: check it and"
    " try again."
)
MAX_AGREEMENT_ACTIONS = 3

Values = dict[str, Any]


@dataclass(frozen=True)
class CaseContext:
    detail: rj.CaseDetail
    facilitators: list[Facilitator]

    @property
    def case_id(self) -> int:
        assert self.detail.case.id is not None
        return self.detail.case.id

    def party_items(self, selected: Any = None, *, roles: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        return [
            {"value": str(p.id), "text": party_label(p), "checked": str(p.id) == str(selected)}
            for p in self.detail.parties
            if p.withdrawn_at is None and (roles is None or p.role in roles)
        ]

    def facilitator_items(self, selected: Any = None) -> list[dict[str, Any]]:
        return [
            {"value": str(f.id), "text": f.display_name, "checked": str(f.id) in _as_set(selected)}
            for f in self.facilitators
        ]

    def conference_items(self, status: str) -> list[dict[str, Any]]:
        return [
            {"value": str(c.id), "text": f"Conference {c.id}", "starts_at": c.starts_at}
            for c in self.detail.conferences
            if c.status == status
        ]


def _as_set(selected: Any) -> set[str]:
    if isinstance(selected, list | tuple | set):
        return {str(s) for s in selected}
    return {str(selected)} if selected is not None else set()


Parse = Callable[[Visit, FormErrors, CaseContext], tuple[Values, dict[str, Any]]]
Call = Callable[[AsyncSession, Principal, CaseContext, dict[str, Any], str], Awaitable[Any]]


@dataclass(frozen=True)
class CaseAction:
    slug: str
    title: str
    button: str
    done: str
    call: Call
    parse: Parse
    fields: str | None = None
    first_field: str = "submit"
    scopes: tuple[Scope, ...] = field(default=CASEWORK)
    warning: bool = False


def _nothing(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    return {}, {}


def _party(visit: Visit, errors: FormErrors, name: str, context: CaseContext, message: str) -> int | None:
    party_id = chosen_id(visit.field(name, limit=12))
    if party_id is None or all(p.id != party_id for p in context.detail.parties):
        errors.add(name, message)
        return None
    return party_id


# -- parties -------------------------------------------------------------------------------------------------


def _add_party(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    role = choice(visit, errors, "role", ROLES, "Select the person's part in the case")
    too_long = "must be {} characters or fewer"
    values: Values = {
        "role": role,
        "given-name": required(
            errors,
            "given-name",
            visit.field("given-name", limit=100),
            "Enter their first name",
            limit=100,
            too_long="First name " + too_long.format(100),
        ),
        "family-name": required(
            errors,
            "family-name",
            visit.field("family-name", limit=100),
            "Enter their last name",
            limit=100,
            too_long="Last name " + too_long.format(100),
        ),
        "phone": visit.field("phone", limit=32),
        "email": visit.field("email", limit=254),
        "safe-contact": visit.field("safe-contact", limit=NOTES_MAX_LENGTH),
        "supports": visit.field("supports", limit=12),
    }
    optional(errors, "phone", values["phone"], limit=32, too_long="Phone number " + too_long.format(32))
    optional(errors, "email", values["email"], limit=254, too_long="Email address " + too_long.format(254))
    optional(
        errors,
        "safe-contact",
        values["safe-contact"],
        limit=NOTES_MAX_LENGTH,
        too_long="Safe contact notes " + too_long.format(NOTES_MAX_LENGTH),
    )
    supports = None
    if role == PartyRole.SUPPORTER.value:
        supports = _party(visit, errors, "supports", context, "Select the person they support")
    if errors:
        return values, {}
    party = rj.PartyInput(
        role=PartyRole(role),
        given_name=values["given-name"],
        family_name=values["family-name"],
        phone=values["phone"] or None,
        email=values["email"] or None,
        safe_contact_notes=values["safe-contact"] or None,
        supports_party_id=supports,
    )
    return values, {"party": party}


def _consent(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    party_id = _party(visit, errors, "party", context, "Select whose consent this is")
    method = choice(visit, errors, "method", CONSENT_METHODS, "Select how they consented")
    willing = choice(visit, errors, "willing", {"yes": "", "no": ""}, "Select whether they are willing to take part")
    values = {"party": visit.field("party", limit=12), "method": method, "willing": willing}
    return values, {"party_id": party_id, "method": method, "willing": willing == "yes"}


def _one_party(message: str) -> Parse:
    def parse(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
        party_id = _party(visit, errors, "party", context, message)
        return {"party": visit.field("party", limit=12)}, {"party_id": party_id}

    return parse


# -- assessment ----------------------------------------------------------------------------------------------


def _moment(prefix: str, what: str) -> Parse:
    def parse(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
        values, moment = read_local_moment(visit, errors, prefix, what)
        return {prefix: values}, {"at": moment}

    return parse


def _assess(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    suitable = choice(visit, errors, "suitable", {"yes": "", "no": ""}, "Select whether the case is suitable")
    risk = choice(visit, errors, "risk", RISK_LEVELS, "Select the risk level")
    return {"suitable": suitable, "risk": risk}, {"suitable": suitable == "yes", "risk": risk}


def _assign(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    known = {str(f.id) for f in context.facilitators}
    lead, co = visit.field("lead", limit=12), visit.field("co", limit=12)
    if lead not in known:
        errors.add("lead", "Select the lead facilitator")
    if co and co not in known:
        errors.add("co", "Select a co-facilitator from the list, or none")
    elif co and co == lead:
        errors.add("co", "The co-facilitator must be someone other than the lead")
    return {"lead": lead, "co": co}, {"lead": chosen_id(lead), "co": chosen_id(co) if co else None}


def _prepare(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    party_id = _party(visit, errors, "party", context, "Select who the meeting was with")
    values, moment = read_local_moment(visit, errors, "held", "meeting")
    return {"party": visit.field("party", limit=12), "held": values}, {"party_id": party_id, "at": moment}


# -- conferences ---------------------------------------------------------------------------------------------


def _booking(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    values: Values = {}
    values["starts"], starts_at = read_local_moment(visit, errors, "starts", "conference")
    values["duration"] = visit.field("duration", limit=4)
    duration = int(values["duration"]) if values["duration"].isascii() and values["duration"].isdigit() else 0
    if not 15 <= duration <= 480:
        errors.add("duration", "Enter how long the conference lasts, from 15 to 480 minutes")
    values["where"] = choice(visit, errors, "where", {"venue": "", "video": ""}, "Select a venue or a video call")
    values["venue"] = visit.field("venue", limit=200)
    if values["where"] == "venue" and not values["venue"]:
        errors.add("venue", "Enter the venue")
    elif len(values["venue"]) > 200:
        errors.add("venue", "The venue must be 200 characters or fewer")
    party_ids = {chosen_id(p) for p in visit.fields("parties", limit=12)}
    values["parties"] = visit.fields("parties", limit=12)
    known_parties = {p.id for p in context.detail.parties}
    if not party_ids or not party_ids <= known_parties:
        errors.add("parties", "Select who takes part")
    facilitator_ids = {chosen_id(f) for f in visit.fields("facilitators", limit=12)}
    values["facilitators"] = visit.fields("facilitators", limit=12)
    if not facilitator_ids <= {f.id for f in context.facilitators}:
        errors.add("facilitators", "Select facilitators from the list")
    if errors or starts_at is None:
        return values, {}
    booking = rj.ConferenceBooking(
        starts_at=starts_at,
        duration_minutes=duration,
        venue=values["venue"] if values["where"] == "venue" else None,
        video_call=values["where"] == "video",
        party_ids=frozenset(i for i in party_ids if i is not None),
        facilitator_ids=frozenset(i for i in facilitator_ids if i is not None),
    )
    return values, {"booking": booking}


def _past(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    values, arguments = _booking(visit, errors, context)
    attended = {chosen_id(p) for p in visit.fields("attended", limit=12)}
    values["attended"] = visit.fields("attended", limit=12)
    if not attended <= {p.id for p in context.detail.parties}:
        errors.add("attended", "Select who attended from the list")
    arguments["attended"] = frozenset(i for i in attended if i is not None)
    return values, arguments


def _conference(status: str, message: str) -> Callable[[Visit, FormErrors, CaseContext], int | None]:
    def read(visit: Visit, errors: FormErrors, context: CaseContext) -> int | None:
        conference_id = chosen_id(visit.field("conference", limit=12))
        if conference_id is None or all(
            c.id != conference_id or c.status != status for c in context.detail.conferences
        ):
            errors.add("conference", message)
            return None
        return conference_id

    return read


def _attendance(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    conference_id = _conference("scheduled", "Select the conference")(visit, errors, context)
    attended = {chosen_id(p) for p in visit.fields("attended", limit=12)}
    values = {"conference": visit.field("conference", limit=12), "attended": visit.fields("attended", limit=12)}
    return values, {"conference_id": conference_id, "attended": frozenset(i for i in attended if i is not None)}


def _cancel(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    conference_id = _conference("scheduled", "Select the conference to cancel")(visit, errors, context)
    reason = required(
        errors,
        "reason",
        visit.field("reason", limit=REASON_MAX_LENGTH),
        "Enter why it is cancelled",
        limit=REASON_MAX_LENGTH,
        too_long=f"The reason must be {REASON_MAX_LENGTH} characters or fewer",
    )
    return {"conference": visit.field("conference", limit=12), "reason": reason}, {
        "conference_id": conference_id,
        "reason": reason,
    }


# -- the intervention and after ------------------------------------------------------------------------------


def _intervention(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    kind = choice(visit, errors, "kind", INTERVENTIONS, "Select how restorative justice was delivered")
    conference_id = None
    if kind == InterventionKind.DIRECT_CONFERENCE.value:
        conference_id = _conference("held", "Select the conference that was held")(visit, errors, context)
    values, moment = read_local_moment(visit, errors, "delivered", "intervention")
    return {"kind": kind, "conference": visit.field("conference", limit=12), "delivered": values}, {
        "kind": kind,
        "conference_id": conference_id,
        "at": moment,
    }


def _agreement(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    values: Values = {}
    actions: list[rj.ActionInput] = []
    for number in range(1, MAX_AGREEMENT_ACTIONS + 1):
        description = visit.field(f"action-{number}", limit=500)
        owner = visit.field(f"owner-{number}", limit=12)
        values[f"action-{number}"], values[f"owner-{number}"] = description, owner
        if not description and number > 1:
            continue
        if not description:
            errors.add("action-1", "Enter what was agreed")
        elif len(description) > 500:
            errors.add(f"action-{number}", "An action must be 500 characters or fewer")
        owner_id = _party(visit, errors, f"owner-{number}", context, "Select who will do it")
        values[f"due-{number}"], due = read_date(visit, errors, f"due-{number}", "action")
        if description and owner_id is not None and due is not None:
            actions.append(rj.ActionInput(description=description, owner_party_id=owner_id, due_on=due))
    return values, {"actions": actions}


def _action_done(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    action_id = chosen_id(visit.field("action", limit=12))
    if action_id is None or all(a.id != action_id or a.done_at for a in context.detail.actions):
        errors.add("action", "Select the action that was done")
    return {"action": visit.field("action", limit=12)}, {"action_id": action_id}


def _follow_up_date(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    values, day = read_date(visit, errors, "follow-up", "follow-up")
    return {"follow-up": values}, {"on": day}


def _follow_up(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    satisfaction = choice(visit, errors, "satisfaction", SATISFACTION, "Select how satisfied the person harmed is")
    return {"satisfaction": satisfaction}, {"satisfaction": satisfaction}


def _close(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    reason = choice(visit, errors, "reason", CLOSURES, "Select why the case is closing")
    return {"reason": reason}, {"reason": reason}


def _note(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    text = required(
        errors,
        "note",
        visit.field("note", limit=NOTES_MAX_LENGTH),
        "Enter the note",
        limit=NOTES_MAX_LENGTH,
        too_long=f"A note must be {NOTES_MAX_LENGTH} characters or fewer",
    )
    return {"note": text}, {"text": text}


# -- the service calls, exactly as the GraphQL resolvers make them -------------------------------------------


def _calls() -> dict[str, Call]:
    def c(fn: Callable[..., Awaitable[Any]], **fixed: Callable[[CaseContext, dict[str, Any]], Any]) -> Call:
        async def call(db: AsyncSession, actor: Principal, ctx: CaseContext, a: dict[str, Any], key: str) -> Any:
            return await fn(db=db, actor=actor, idempotency_key=key, **{k: f(ctx, a) for k, f in fixed.items()})

        return call

    case = lambda ctx, a: ctx.case_id  # noqa: E731
    return {
        "party": c(rj.add_party, case_id=case, party=lambda ctx, a: a["party"]),
        "consent": c(
            rj.record_party_consent,
            party_id=lambda ctx, a: a["party_id"],
            method=lambda ctx, a: ConsentMethod(a["method"]),
            willing=lambda ctx, a: a["willing"],
        ),
        "withdraw": c(rj.withdraw_party, party_id=lambda ctx, a: a["party_id"]),
        "contact": c(rj.record_initial_contact, case_id=case, contacted_at=lambda ctx, a: a["at"]),
        "assess": c(
            rj.record_assessment,
            case_id=case,
            suitable=lambda ctx, a: a["suitable"],
            risk_level=lambda ctx, a: RiskLevel(a["risk"]),
        ),
        "approve": c(rj.approve_assessment, case_id=case),
        "assign": c(
            rj.assign_facilitators,
            case_id=case,
            lead_facilitator_id=lambda ctx, a: a["lead"],
            co_facilitator_id=lambda ctx, a: a["co"],
        ),
        "prepare": c(
            rj.record_preparation_meeting,
            case_id=case,
            party_id=lambda ctx, a: a["party_id"],
            held_at=lambda ctx, a: a["at"],
        ),
        "book": c(rj.schedule_conference, case_id=case, booking=lambda ctx, a: a["booking"]),
        "past-conference": c(
            rj.record_past_conference,
            case_id=case,
            booking=lambda ctx, a: a["booking"],
            attended_party_ids=lambda ctx, a: a["attended"],
        ),
        "attendance": c(
            rj.record_attendance,
            conference_id=lambda ctx, a: a["conference_id"],
            attended_party_ids=lambda ctx, a: a["attended"],
        ),
        "cancel-conference": c(
            rj.cancel_conference, conference_id=lambda ctx, a: a["conference_id"], reason=lambda ctx, a: a["reason"]
        ),
        "intervention": c(
            rj.record_intervention,
            case_id=case,
            kind=lambda ctx, a: InterventionKind(a["kind"]),
            conference_id=lambda ctx, a: a["conference_id"],
            delivered_at=lambda ctx, a: a["at"],
        ),
        "agreement": c(rj.record_outcome_agreement, case_id=case, actions=lambda ctx, a: a["actions"]),
        "action-done": c(rj.mark_action_done, action_id=lambda ctx, a: a["action_id"]),
        "follow-up-date": c(rj.schedule_follow_up, case_id=case, follow_up_on=lambda ctx, a: a["on"]),
        "follow-up": c(
            rj.record_follow_up, case_id=case, harmed_satisfaction=lambda ctx, a: Satisfaction(a["satisfaction"])
        ),
        "close": c(rj.close_case, case_id=case, reason=lambda ctx, a: ClosureReason(a["reason"])),
        "note": c(rj.add_case_note, case_id=case, text=lambda ctx, a: a["text"]),
    }


CALLS = _calls()


def _action(slug: str, title: str, button: str, done: str, parse: Parse, **options: Any) -> CaseAction:
    return CaseAction(slug, title, button, done, CALLS[slug], parse, **options)


ACTIONS: dict[str, CaseAction] = {
    a.slug: a
    for a in (
        _action(
            "party",
            "Add a party",
            "Add party",
            "Party added",
            _add_party,
            fields="party",
            scopes=MANAGE,
            first_field="role",
        ),
        _action(
            "consent",
            "Record a party's consent",
            "Record consent",
            "Consent recorded",
            _consent,
            fields="consent",
            first_field="party",
        ),
        _action(
            "withdraw",
            "Record a party's withdrawal",
            "Record withdrawal",
            "Withdrawal recorded",
            _one_party("Select who has withdrawn"),
            fields="one_party",
            first_field="party",
            warning=True,
        ),
        _action(
            "contact",
            "Record initial contact",
            "Record initial contact",
            "Initial contact recorded",
            _moment("contacted", "initial contact"),
            fields="contact",
            first_field="contacted-day",
        ),
        _action(
            "assess",
            "Record the assessment",
            "Record assessment",
            "Assessment recorded",
            _assess,
            fields="assess",
            first_field="suitable",
        ),
        _action(
            "approve", "Approve the assessment", "Approve assessment", "Assessment approved", _nothing, scopes=MANAGE
        ),
        _action(
            "assign",
            "Assign facilitators",
            "Assign facilitators",
            "Facilitators assigned",
            _assign,
            fields="assign",
            scopes=MANAGE,
            first_field="lead",
        ),
        _action(
            "prepare",
            "Record a preparation meeting",
            "Record preparation meeting",
            "Preparation meeting recorded",
            _prepare,
            fields="prepare",
            first_field="party",
        ),
        _action(
            "book",
            "Book a conference",
            "Book conference",
            "Conference booked",
            _booking,
            fields="booking",
            scopes=MANAGE,
            first_field="starts-day",
        ),
        _action(
            "past-conference",
            "Record a conference that already happened",
            "Record past conference",
            "Conference recorded",
            _past,
            fields="booking",
            scopes=MANAGE,
            first_field="starts-day",
        ),
        _action(
            "attendance",
            "Record attendance",
            "Record attendance",
            "Attendance recorded",
            _attendance,
            fields="attendance",
            first_field="conference",
        ),
        _action(
            "cancel-conference",
            "Cancel a conference",
            "Cancel conference",
            "Conference cancelled",
            _cancel,
            fields="cancel",
            scopes=MANAGE,
            first_field="conference",
            warning=True,
        ),
        _action(
            "intervention",
            "Record the intervention",
            "Record intervention",
            "Intervention recorded",
            _intervention,
            fields="intervention",
            first_field="kind",
        ),
        _action(
            "agreement",
            "Record the outcome agreement",
            "Record agreement",
            "Outcome agreement recorded",
            _agreement,
            fields="agreement",
            first_field="action-1",
        ),
        _action(
            "action-done",
            "Mark an agreed action done",
            "Mark action done",
            "Action marked done",
            _action_done,
            fields="action_done",
            first_field="action",
        ),
        _action(
            "follow-up-date",
            "Set the follow-up date",
            "Set follow-up date",
            "Follow-up date set",
            _follow_up_date,
            fields="follow_up_date",
            first_field="follow-up-day",
        ),
        _action(
            "follow-up",
            "Record the follow-up",
            "Record follow-up",
            "Follow-up recorded",
            _follow_up,
            fields="follow_up",
            first_field="satisfaction",
        ),
        _action(
            "close",
            "Close the case",
            "Close case",
            "Case closed",
            _close,
            fields="close",
            scopes=MANAGE,
            first_field="reason",
            warning=True,
        ),
        _action("note", "Add a note", "Add note", "Note added", _note, fields="note", first_field="note"),
    )
}


async def load_context(db: AsyncSession, actor: Principal, case_id: int) -> CaseContext:
    detail = await rj.get_case_detail(db=db, actor=actor, case_id=case_id)
    facilitators = await rj.list_facilitators(db=db, actor=actor) if actor.has(Scope.RJ_MANAGE) else []
    return CaseContext(detail=detail, facilitators=facilitators)


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
