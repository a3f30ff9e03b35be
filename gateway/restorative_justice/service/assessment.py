"""The first steps of an RJ case: initial contact, the suitability and risk assessment, and its supervisor approval.

The case supervisor: a sensitive case's assessment must be approved by a signed-in person holding the
rj-coordinator role (with rj:manage) who is not the person who recorded the assessment. Machine clients have no
roles, so they can never approve. Re-recording the assessment clears the approval.
"""

from __future__ import annotations

from datetime import datetime

from gateway.auth.principal import Principal, Role, Scope
from gateway.clock import not_in_future, utc_now
from gateway.db import AsyncSession
from gateway.errors import Forbidden, InvalidTransition
from gateway.restorative_justice.models import RiskLevel, RjCase, RjStage
from gateway.restorative_justice.service.access import MANAGE, RJ_HUB_SLUG, CaseStep, SubjectIds, change_case
from gateway.restorative_justice.service.rules import from_uk_time, in_vocabulary, move

CONTACT = CaseStep("rj.case.contact", stages=(RjStage.REFERRAL_RECEIVED,))
ASSESS = CaseStep("rj.case.assess", stages=(RjStage.INITIAL_CONTACT, RjStage.ASSESSMENT))
APPROVE = CaseStep("rj.case.approve", stages=(RjStage.ASSESSMENT,), scopes=MANAGE)


async def record_initial_contact(
    *, db: AsyncSession, actor: Principal, case_id: int, contacted_at: datetime, idempotency_key: str
) -> RjCase:
    """Initial contact follows the referral being received, and only that."""

    async def contact(case: RjCase) -> SubjectIds:
        case.initial_contact_at = not_in_future(from_uk_time(contacted_at), "contact time")
        move(case, RjStage.INITIAL_CONTACT)
        return {}

    return await change_case(db, actor, CONTACT, case_id, idempotency_key, {}, change=contact)


async def record_assessment(
    *, db: AsyncSession, actor: Principal, case_id: int, suitable: bool, risk_level: RiskLevel, idempotency_key: str
) -> RjCase:
    """Suitability and risk are assessed after initial contact; re-assessing clears any supervisor approval."""

    async def assess(case: RjCase) -> SubjectIds:
        case.assessed_suitable = suitable
        case.risk_level = in_vocabulary(RiskLevel, risk_level, "risk level").value
        case.assessed_by = actor.actor_label
        case.assessed_at = utc_now()
        case.approved_by = None
        case.approved_at = None
        move(case, RjStage.ASSESSMENT)
        return {}

    request = {"s": suitable, "r": risk_level}
    return await change_case(db, actor, ASSESS, case_id, idempotency_key, request, change=assess)


def is_case_supervisor(actor: Principal) -> bool:
    """A signed-in RJ co-ordinator of the RJ hub; never a machine client, which has no roles."""
    return (
        actor.user_id is not None
        and actor.organisation_slug == RJ_HUB_SLUG
        and actor.has(Scope.RJ_MANAGE)
        and Role.RJ_COORDINATOR in actor.roles
    )


async def approve_assessment(*, db: AsyncSession, actor: Principal, case_id: int, idempotency_key: str) -> RjCase:
    """A case supervisor (an rj-coordinator person, not the assessor) approves a sensitive case's assessment."""

    async def approve(case: RjCase) -> SubjectIds:
        if not is_case_supervisor(actor):
            raise Forbidden("Only a case supervisor (a signed-in RJ co-ordinator) can approve an assessment.")
        if case.assessed_by == actor.actor_label:
            raise Forbidden("A case supervisor cannot approve an assessment they recorded themselves.")
        if not case.sensitive:
            raise InvalidTransition("Only a sensitive case's assessment needs a case supervisor's approval.")
        if case.assessed_suitable is not True:
            raise InvalidTransition("Only an assessment that found the case suitable can be approved.")
        if case.approved_at is not None:
            raise InvalidTransition("This assessment is already approved.")
        case.approved_by = actor.actor_label
        case.approved_at = utc_now()
        case.updated_at = utc_now()
        return {}

    return await change_case(db, actor, APPROVE, case_id, idempotency_key, {}, change=approve)
