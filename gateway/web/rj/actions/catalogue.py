"""The catalogue of case actions: each slug's title, button, confirmation, form reader, service call, fields
template and who may take it. Apart so the page handler and the case page read one list of what can be done.
"""

from __future__ import annotations

from typing import Any

from gateway.web.rj.actions.assessment_forms import assess_form, assign_form, moment_form, prepare_form
from gateway.web.rj.actions.calls import CALLS
from gateway.web.rj.actions.conference_forms import attendance_form, booking_form, cancel_form, past_form
from gateway.web.rj.actions.context import MANAGE, CaseAction, Parse, empty_form
from gateway.web.rj.actions.outcome_forms import (
    action_done_form,
    agreement_form,
    close_form,
    follow_up_date_form,
    follow_up_form,
    intervention_form,
    note_form,
)
from gateway.web.rj.actions.party_forms import add_party, consent_form, one_party_form


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
            add_party,
            fields="party",
            scopes=MANAGE,
            first_field="role",
        ),
        _action(
            "consent",
            "Record a party's consent",
            "Record consent",
            "Consent recorded",
            consent_form,
            fields="consent",
            first_field="party",
        ),
        _action(
            "withdraw",
            "Record a party's withdrawal",
            "Record withdrawal",
            "Withdrawal recorded",
            one_party_form("Select who has withdrawn"),
            fields="one_party",
            first_field="party",
            warning=True,
        ),
        _action(
            "contact",
            "Record initial contact",
            "Record initial contact",
            "Initial contact recorded",
            moment_form("contacted", "initial contact"),
            fields="contact",
            first_field="contacted-day",
        ),
        _action(
            "assess",
            "Record the assessment",
            "Record assessment",
            "Assessment recorded",
            assess_form,
            fields="assess",
            first_field="suitable",
        ),
        _action(
            "approve", "Approve the assessment", "Approve assessment", "Assessment approved", empty_form, scopes=MANAGE
        ),
        _action(
            "assign",
            "Assign facilitators",
            "Assign facilitators",
            "Facilitators assigned",
            assign_form,
            fields="assign",
            scopes=MANAGE,
            first_field="lead",
        ),
        _action(
            "prepare",
            "Record a preparation meeting",
            "Record preparation meeting",
            "Preparation meeting recorded",
            prepare_form,
            fields="prepare",
            first_field="party",
        ),
        _action(
            "book",
            "Book a conference",
            "Book conference",
            "Conference booked",
            booking_form,
            fields="booking",
            scopes=MANAGE,
            first_field="starts-day",
        ),
        _action(
            "past-conference",
            "Record a conference that already happened",
            "Record past conference",
            "Conference recorded",
            past_form,
            fields="booking",
            scopes=MANAGE,
            first_field="starts-day",
        ),
        _action(
            "attendance",
            "Record attendance",
            "Record attendance",
            "Attendance recorded",
            attendance_form,
            fields="attendance",
            first_field="conference",
        ),
        _action(
            "cancel-conference",
            "Cancel a conference",
            "Cancel conference",
            "Conference cancelled",
            cancel_form,
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
            intervention_form,
            fields="intervention",
            first_field="kind",
        ),
        _action(
            "agreement",
            "Record the outcome agreement",
            "Record agreement",
            "Outcome agreement recorded",
            agreement_form,
            fields="agreement",
            first_field="action-1",
        ),
        _action(
            "action-done",
            "Mark an agreed action done",
            "Mark action done",
            "Action marked done",
            action_done_form,
            fields="action_done",
            first_field="action",
        ),
        _action(
            "follow-up-date",
            "Set the follow-up date",
            "Set follow-up date",
            "Follow-up date set",
            follow_up_date_form,
            fields="follow_up_date",
            first_field="follow-up-day",
        ),
        _action(
            "follow-up",
            "Record the follow-up",
            "Record follow-up",
            "Follow-up recorded",
            follow_up_form,
            fields="follow_up",
            first_field="satisfaction",
        ),
        _action(
            "close",
            "Close the case",
            "Close case",
            "Case closed",
            close_form,
            fields="close",
            scopes=MANAGE,
            first_field="reason",
            warning=True,
        ),
        _action("note", "Add a note", "Add note", "Note added", note_form, fields="note", first_field="note"),
    )
}
