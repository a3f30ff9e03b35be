"""The catalogue of case actions: each slug's title, button, confirmation, form reader, service call, fields
template and who may take it. Apart so the page handler and the case page read one list of what can be done.
"""

from __future__ import annotations

from typing import Any

from gateway.web.rj.actions.assessment_forms import _assess, _assign, _moment, _prepare
from gateway.web.rj.actions.calls import CALLS
from gateway.web.rj.actions.conference_forms import _attendance, _booking, _cancel, _past
from gateway.web.rj.actions.context import MANAGE, CaseAction, Parse, _nothing
from gateway.web.rj.actions.outcome_forms import (
    _action_done,
    _agreement,
    _close,
    _follow_up,
    _follow_up_date,
    _intervention,
    _note,
)
from gateway.web.rj.actions.party_forms import _add_party, _consent, _one_party


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
