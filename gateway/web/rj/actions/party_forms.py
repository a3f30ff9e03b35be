"""Reading the forms about a case's parties: adding one, recording their consent, and the one-party forms
(a withdrawal). Apart from the other families because each family's checks change with its own step of the case.
"""

from __future__ import annotations

from typing import Any

from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import NOTES_MAX_LENGTH, PartyRole
from gateway.web.forms import FormErrors, optional, required
from gateway.web.rj.actions.context import CaseContext, Parse, Values, chosen_party
from gateway.web.rj.common import CONSENT_METHODS, ROLES, choice
from gateway.web.visit import Visit


def add_party(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
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
        supports = chosen_party(visit, errors, "supports", context, "Select the person they support")
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


def consent_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    party_id = chosen_party(visit, errors, "party", context, "Select whose consent this is")
    method = choice(visit, errors, "method", CONSENT_METHODS, "Select how they consented")
    willing = choice(visit, errors, "willing", {"yes": "", "no": ""}, "Select whether they are willing to take part")
    values = {"party": visit.field("party", limit=12), "method": method, "willing": willing}
    return values, {"party_id": party_id, "method": method, "willing": willing == "yes"}


def one_party_form(message: str) -> Parse:
    def parse(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
        party_id = chosen_party(visit, errors, "party", context, message)
        return {"party": visit.field("party", limit=12)}, {"party_id": party_id}

    return parse
