"""Reading the forms of a case's early steps: initial contact, the assessment, assigning facilitators and
preparation meetings. Apart from the other families because each family's checks change with its own step.
"""

from __future__ import annotations

from typing import Any

from gateway.web.forms import FormErrors
from gateway.web.rj.actions.context import CaseContext, Parse, Values, chosen_party
from gateway.web.rj.common import RISK_LEVELS, choice, chosen_id, read_local_moment
from gateway.web.visit import Visit


def moment_form(prefix: str, what: str) -> Parse:
    def parse(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
        values, moment = read_local_moment(visit, errors, prefix, what)
        return {prefix: values}, {"at": moment}

    return parse


def assess_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    suitable = choice(visit, errors, "suitable", {"yes": "", "no": ""}, "Select whether the case is suitable")
    risk = choice(visit, errors, "risk", RISK_LEVELS, "Select the risk level")
    return {"suitable": suitable, "risk": risk}, {"suitable": suitable == "yes", "risk": risk}


def assign_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    known = {str(f.id) for f in context.facilitators}
    lead, co = visit.field("lead", limit=12), visit.field("co", limit=12)
    if lead not in known:
        errors.add("lead", "Select the lead facilitator")
    if co and co not in known:
        errors.add("co", "Select a co-facilitator from the list, or none")
    elif co and co == lead:
        errors.add("co", "The co-facilitator must be someone other than the lead")
    return {"lead": lead, "co": co}, {"lead": chosen_id(lead), "co": chosen_id(co) if co else None}


def prepare_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    party_id = chosen_party(visit, errors, "party", context, "Select who the meeting was with")
    values, moment = read_local_moment(visit, errors, "held", "meeting")
    return {"party": visit.field("party", limit=12), "held": values}, {"party_id": party_id, "at": moment}
