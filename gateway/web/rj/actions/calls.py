"""The service call behind each case action, made exactly as the GraphQL resolver makes it. Apart from the
forms so the one place that binds a slug to a service function reads as a list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.auth.principal import Principal
from gateway.consent.models import ConsentMethod
from gateway.db import AsyncSession
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import ClosureReason, InterventionKind, RiskLevel, Satisfaction
from gateway.web.rj.actions.context import Call, CaseContext

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
