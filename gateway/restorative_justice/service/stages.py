"""An RJ case's work after assessment: preparation, the intervention, the outcome agreement, follow-up and closure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, func, select

from gateway.auth.principal import Principal
from gateway.clock import not_in_future, utc_now
from gateway.db import AsyncSession
from gateway.errors import CaseHalted, InvalidTransition, NotFound, ValidationFailed
from gateway.kit import bounded_text
from gateway.restorative_justice.models import (
    AgreementAction,
    ClosureReason,
    Conference,
    ConferenceStatus,
    Intervention,
    InterventionKind,
    PartyRole,
    PreparationMeeting,
    RjCase,
    RjStage,
    Satisfaction,
)
from gateway.restorative_justice.service.access import (
    CASEWORK,
    MANAGE,
    CaseStep,
    SubjectIds,
    case_parties,
    change_case,
    require_rj_hub,
)
from gateway.restorative_justice.service.rules import (
    cancel_scheduled_conferences,
    consented,
    from_uk_time,
    move,
    require_cleared_assessment,
    require_consent,
    uk_today,
)

PREPARE = CaseStep("rj.case.prepare", stages=(RjStage.ASSESSMENT, RjStage.PREPARATION))
INTERVENE = CaseStep("rj.case.intervene", stages=(RjStage.PREPARATION, RjStage.INTERVENTION))
AGREE = CaseStep("rj.case.agree", stages=(RjStage.INTERVENTION,))
ACTION_DONE = CaseStep("rj.action.done", stages=(RjStage.OUTCOME_AGREEMENT, RjStage.FOLLOW_UP))
# A follow-up date can be moved until the follow-up is recorded.
SCHEDULE_FOLLOW_UP = CaseStep(
    "rj.case.follow-up.schedule", stages=(RjStage.INTERVENTION, RjStage.OUTCOME_AGREEMENT, RjStage.FOLLOW_UP)
)
RECORD_FOLLOW_UP = CaseStep("rj.case.follow-up.record", stages=(RjStage.FOLLOW_UP,))
# Closing checks the stage against the reason given, and a halted case may still close.
CLOSE = CaseStep("rj.case.close", stages=None, scopes=MANAGE)


@dataclass(frozen=True, slots=True)
class ActionInput:
    description: str
    owner_party_id: int
    due_on: date


async def record_preparation_meeting(
    *, db: AsyncSession, actor: Principal, case_id: int, party_id: int, held_at: datetime, idempotency_key: str
) -> RjCase:
    """Preparation meetings follow a cleared assessment, one party at a time, each party consenting and willing."""

    async def prepare(case: RjCase) -> SubjectIds:
        require_cleared_assessment(case)
        party = next((p for p in await case_parties(db, case_id) if p.id == party_id), None)
        if party is None:
            raise NotFound()
        require_consent([party], "a preparation meeting")
        meeting = PreparationMeeting(
            case_id=case_id,
            party_id=party_id,
            held_at=not_in_future(from_uk_time(held_at), "meeting time"),
            recorded_by=actor.actor_label,
        )
        db.add(meeting)
        move(case, RjStage.PREPARATION)
        await db.flush()
        return {"rj_party": party_id, "rj_meeting": meeting.id}

    request = {"p": party_id, "h": held_at}
    return await change_case(db, actor, PREPARE, case_id, idempotency_key, request, change=prepare)


async def _require_ready_for_intervention(db: AsyncSession, case: RjCase, kind: InterventionKind) -> None:
    """Who must consent and be prepared depends on how RJ is delivered.

    A direct conference brings everyone together: every person harmed and responsible consents and is prepared.
    Indirect work (a shuttle message, a letter) passes between those who agreed to it: at least one person harmed
    and one responsible consent and are prepared; a party who has not consented simply takes no part.
    """
    assert case.id is not None
    parties = [p for p in await case_parties(db, case.id) if p.role != PartyRole.SUPPORTER.value]
    prepared = set(
        (await db.exec(select(PreparationMeeting.party_id).where(col(PreparationMeeting.case_id) == case.id))).all()
    )
    for role in (PartyRole.HARMED, PartyRole.RESPONSIBLE):
        if not any(p.role == role.value for p in parties):
            raise InvalidTransition(f"An intervention needs a {role.value} party.")
    if kind is InterventionKind.DIRECT_CONFERENCE:
        taking_part = parties
        require_consent(taking_part, "a direct intervention")
    else:
        taking_part = [p for p in parties if consented(p)]
        for role in (PartyRole.HARMED, PartyRole.RESPONSIBLE):
            if not any(p.role == role.value for p in taking_part):
                require_consent([p for p in parties if p.role == role.value], "indirect work")
    for party in taking_part:
        if party.id not in prepared:
            raise InvalidTransition(
                "Every person harmed and responsible taking part needs a preparation meeting first."
            )


async def record_intervention(
    *,
    db: AsyncSession,
    actor: Principal,
    case_id: int,
    kind: InterventionKind,
    delivered_at: datetime,
    conference_id: int | None = None,
    idempotency_key: str,
) -> RjCase:
    """The intervention follows preparation: a held conference of this case, a shuttle message or a letter."""

    async def intervene(case: RjCase) -> SubjectIds:
        require_cleared_assessment(case)
        await _require_ready_for_intervention(db, case, kind)
        if kind is InterventionKind.DIRECT_CONFERENCE:
            held = (
                await db.exec(
                    select(Conference.id).where(
                        col(Conference.id) == conference_id,
                        col(Conference.case_id) == case_id,
                        col(Conference.status) == ConferenceStatus.HELD.value,
                    )
                )
            ).first()
            if held is None:
                raise InvalidTransition("A direct intervention names a conference of this case that was held.")
        elif conference_id is not None:
            raise ValidationFailed("Only a direct conference names a conference.")
        delivered = not_in_future(from_uk_time(delivered_at), "delivery time")
        intervention = Intervention(
            case_id=case_id,
            kind=kind.value,
            conference_id=conference_id,
            delivered_at=delivered,
            recorded_by=actor.actor_label,
        )
        db.add(intervention)
        if case.intervention_delivered_at is None:
            case.intervention_kind = kind.value
            case.intervention_delivered_at = delivered
        move(case, RjStage.INTERVENTION)
        await db.flush()
        return {"rj_intervention": intervention.id}

    request = {"k": kind, "d": delivered_at, "conf": conference_id}
    return await change_case(db, actor, INTERVENE, case_id, idempotency_key, request, change=intervene)


async def record_outcome_agreement(
    *, db: AsyncSession, actor: Principal, case_id: int, actions: Sequence[ActionInput], idempotency_key: str
) -> RjCase:
    """The outcome agreement follows the intervention; each action is owned by a party of the case."""

    async def agree(case: RjCase) -> SubjectIds:
        if not actions:
            raise ValidationFailed("An outcome agreement has at least one action; with none, schedule the follow-up.")
        party_ids = {p.id for p in await case_parties(db, case_id)}
        for action in actions:
            if action.owner_party_id not in party_ids:
                raise ValidationFailed("Each action is owned by a party of this case.")
            description = bounded_text(action.description, "action description", max_length=500, required=True)
            db.add(
                AgreementAction(
                    case_id=case_id,
                    description=description or "",
                    owner_party_id=action.owner_party_id,
                    due_on=action.due_on,
                )
            )
        case.agreement_recorded_at = utc_now()
        move(case, RjStage.OUTCOME_AGREEMENT)
        assert case.id is not None
        # The intervention is over: conferences still booked are no longer needed and leave the calendars.
        cancelled = await cancel_scheduled_conferences(db, case.id, "case-moved-on")
        return {"cancelled_conferences": cancelled} if cancelled else {}

    return await change_case(db, actor, AGREE, case_id, idempotency_key, {"a": list(actions)}, change=agree)


async def mark_action_done(*, db: AsyncSession, actor: Principal, action_id: int, idempotency_key: str) -> RjCase:
    """An agreement action is marked done; when the last one is, the agreement is completed."""
    require_rj_hub(actor, *CASEWORK)  # before the action is read, not only when its case is
    case_id = (await db.exec(select(AgreementAction.case_id).where(col(AgreementAction.id) == action_id))).first()

    async def done(case: RjCase) -> SubjectIds:
        action = await db.get(AgreementAction, action_id)
        assert action is not None
        if action.done_at is not None:
            raise InvalidTransition("That action is already done.")
        action.done_at = utc_now()
        db.add(action)
        await db.flush()
        open_actions = (
            await db.exec(
                select(func.count()).where(
                    col(AgreementAction.case_id) == case.id, col(AgreementAction.done_at).is_(None)
                )
            )
        ).one()
        if int(open_actions) == 0:
            case.agreement_completed_at = utc_now()
        case.updated_at = utc_now()
        return {"rj_action": action_id}

    # A missing action has no case; case 0 is none either, so the answer is NotFound as for a case not the actor's.
    in_case = case_id if case_id is not None else 0
    return await change_case(db, actor, ACTION_DONE, in_case, idempotency_key, {"a": action_id}, change=done)


async def schedule_follow_up(
    *, db: AsyncSession, actor: Principal, case_id: int, follow_up_on: date, idempotency_key: str
) -> RjCase:
    """Follow-up is scheduled after the intervention (and its agreement, if one was made), on a UK date not past.

    Until the follow-up is recorded its date can be changed the same way.
    """

    async def schedule(case: RjCase) -> SubjectIds:
        if case.follow_up_at is not None:
            raise InvalidTransition("The follow-up is already recorded.")
        if follow_up_on < uk_today():
            raise ValidationFailed("The follow-up date cannot be in the past.")
        previous = case.follow_up_due_on
        case.follow_up_due_on = follow_up_on
        move(case, RjStage.FOLLOW_UP)
        assert case.id is not None
        cancelled = await cancel_scheduled_conferences(db, case.id, "case-moved-on")
        changed: SubjectIds = {"previous_date": previous.isoformat()} if previous is not None else {}
        return {**changed, "cancelled_conferences": cancelled} if cancelled else changed

    request = {"on": follow_up_on}
    return await change_case(db, actor, SCHEDULE_FOLLOW_UP, case_id, idempotency_key, request, change=schedule)


async def record_follow_up(
    *, db: AsyncSession, actor: Principal, case_id: int, harmed_satisfaction: Satisfaction, idempotency_key: str
) -> RjCase:
    """The follow-up is recorded once, with the person harmed's satisfaction, whenever it happens (even early)."""

    async def follow_up(case: RjCase) -> SubjectIds:
        if case.follow_up_at is not None:
            raise InvalidTransition("The follow-up is already recorded.")
        case.follow_up_at = utc_now()
        case.harmed_satisfaction = harmed_satisfaction.value
        case.updated_at = utc_now()
        return {}

    request = {"s": harmed_satisfaction}
    return await change_case(db, actor, RECORD_FOLLOW_UP, case_id, idempotency_key, request, change=follow_up)


async def close_case(
    *, db: AsyncSession, actor: Principal, case_id: int, reason: ClosureReason, idempotency_key: str
) -> RjCase:
    """The co-ordinator closes a case with a reason that must be true of it; open conferences are cancelled."""

    async def close(case: RjCase) -> SubjectIds:
        if case.stage == RjStage.CLOSED.value:
            raise InvalidTransition("The RJ case is already closed.")
        withdrawn_roles = {p.role for p in await case_parties(db, case_id) if p.withdrawn_at is not None}
        followed_up = case.stage == RjStage.FOLLOW_UP.value and case.follow_up_at is not None
        if reason is ClosureReason.COMPLETED and not followed_up:
            raise InvalidTransition("A case is completed only after its follow-up is recorded.")
        if reason is ClosureReason.COMPLETED and case.halted_at is not None:
            raise CaseHalted()
        if reason is ClosureReason.UNSUITABLE and case.assessed_suitable is not False:
            raise InvalidTransition("A case closes as unsuitable only when its assessment found it so.")
        if reason is ClosureReason.HARMED_WITHDREW and PartyRole.HARMED.value not in withdrawn_roles:
            raise InvalidTransition("No person harmed has withdrawn.")
        if reason is ClosureReason.RESPONSIBLE_WITHDREW and PartyRole.RESPONSIBLE.value not in withdrawn_roles:
            raise InvalidTransition("No person responsible has withdrawn.")
        assert case.id is not None
        cancelled = await cancel_scheduled_conferences(db, case.id, "case-closed")
        case.closure_reason = reason.value
        case.closed_at = utc_now()
        move(case, RjStage.CLOSED)
        return {"cancelled_conferences": cancelled}

    return await change_case(db, actor, CLOSE, case_id, idempotency_key, {"r": reason}, change=close)
