"""Reading the forms from the intervention on: how restorative justice was delivered, the outcome agreement
and its actions, the follow-up, closing the case, and notes. Apart from the other families because each family's
checks change with its own step of the case.
"""

from __future__ import annotations

from typing import Any

from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import NOTES_MAX_LENGTH, InterventionKind
from gateway.web.forms import FormErrors, required
from gateway.web.rj.actions.conference_forms import chosen_conference
from gateway.web.rj.actions.context import CaseContext, Values, chosen_party
from gateway.web.rj.common import CLOSURES, INTERVENTIONS, SATISFACTION, choice, chosen_id, read_date, read_local_moment
from gateway.web.visit import Visit

MAX_AGREEMENT_ACTIONS = 3


def intervention_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    kind = choice(visit, errors, "kind", INTERVENTIONS, "Select how restorative justice was delivered")
    conference_id = None
    if kind == InterventionKind.DIRECT_CONFERENCE.value:
        conference_id = chosen_conference("held", "Select the conference that was held")(visit, errors, context)
    values, moment = read_local_moment(visit, errors, "delivered", "intervention")
    return {"kind": kind, "conference": visit.field("conference", limit=12), "delivered": values}, {
        "kind": kind,
        "conference_id": conference_id,
        "at": moment,
    }


def agreement_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
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
        owner_id = chosen_party(visit, errors, f"owner-{number}", context, "Select who will do it")
        values[f"due-{number}"], due = read_date(visit, errors, f"due-{number}", "action")
        if description and owner_id is not None and due is not None:
            actions.append(rj.ActionInput(description=description, owner_party_id=owner_id, due_on=due))
    return values, {"actions": actions}


def action_done_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    action_id = chosen_id(visit.field("action", limit=12))
    if action_id is None or all(a.id != action_id or a.done_at for a in context.detail.actions):
        errors.add("action", "Select the action that was done")
    return {"action": visit.field("action", limit=12)}, {"action_id": action_id}


def follow_up_date_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    values, day = read_date(visit, errors, "follow-up", "follow-up")
    return {"follow-up": values}, {"on": day}


def follow_up_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    satisfaction = choice(visit, errors, "satisfaction", SATISFACTION, "Select how satisfied the person harmed is")
    return {"satisfaction": satisfaction}, {"satisfaction": satisfaction}


def close_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    reason = choice(visit, errors, "reason", CLOSURES, "Select why the case is closing")
    return {"reason": reason}, {"reason": reason}


def note_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    text = required(
        errors,
        "note",
        visit.field("note", limit=NOTES_MAX_LENGTH),
        "Enter the note",
        limit=NOTES_MAX_LENGTH,
        too_long=f"A note must be {NOTES_MAX_LENGTH} characters or fewer",
    )
    return {"note": text}, {"text": text}
