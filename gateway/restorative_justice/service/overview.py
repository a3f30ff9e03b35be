"""What the RJ co-ordinator's home and the diaries read: open cases and whom each waits on, Hub tasks still to
become cases, and conferences by period. Case rows and party roles only: no names, so these reads are not audited.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import col, select

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.referrals.models import ReferralTask
from gateway.referrals.service.access import provider_tasks
from gateway.restorative_justice.models import (
    Conference,
    ConferenceFacilitator,
    ConferenceStatus,
    Party,
    PartyRole,
    RjCase,
    RjStage,
)
from gateway.restorative_justice.service.access import (
    CASEWORK,
    MANAGE,
    own_facilitator,
    require_rj_hub,
    visible_cases,
)
from gateway.restorative_justice.service.rules import consented, uk_today

ACCEPTED = ("accepted", "in-progress")
# The most open cases the home page reads at once; a hub has tens, not thousands, open at a time.
MAX_OPEN_CASES = 500
MAX_DIARY_ENTRIES = 500


@dataclass(frozen=True, slots=True)
class OpenCase:
    case: RjCase
    waiting_on: tuple[str, ...]
    follow_up_overdue: bool
    awaiting_supervisor: bool


@dataclass(frozen=True, slots=True)
class AwaitingTask:
    task_id: int
    reference: str
    accepted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Overview:
    open_cases: list[OpenCase]
    tasks_awaiting_cases: list[AwaitingTask]
    by_stage: dict[str, list[OpenCase]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DiaryEntry:
    conference: Conference
    case_reference: str
    facilitator_ids: list[int]


STAGE_WAITS = {
    RjStage.REFERRAL_RECEIVED: "facilitator: initial contact",
    RjStage.INITIAL_CONTACT: "facilitator: assessment",
    RjStage.PREPARATION: "facilitator: the intervention",
    RjStage.INTERVENTION: "facilitator: the intervention",
    RjStage.OUTCOME_AGREEMENT: "person responsible: agreement actions",
}


def _stage_wait(case: RjCase, today: date) -> str | None:
    stage = RjStage(case.stage)
    if stage is RjStage.ASSESSMENT:
        unapproved = case.sensitive and case.assessed_suitable and case.approved_at is None
        return "case supervisor: approval" if unapproved else "facilitator: preparation"
    if stage is RjStage.FOLLOW_UP and case.follow_up_at is None:
        due = case.follow_up_due_on
        return "facilitator: follow-up" + (" (overdue)" if due is not None and due < today else "")
    if stage is RjStage.FOLLOW_UP:
        return "co-ordinator: close the case"
    return STAGE_WAITS.get(stage)


def _waiting_on(case: RjCase, parties: list[Party], today: date) -> tuple[str, ...]:
    """Whom the case waits on next, in words a co-ordinator uses; roles only, never a name."""
    waits: list[str] = []
    active = [p for p in parties if p.withdrawn_at is None]
    if case.halted_at is not None:
        return ("co-ordinator: a party withdrew, close the case",)
    if case.lead_facilitator_id is None:
        waits.append("co-ordinator: assign a facilitator")
    for role, person in ((PartyRole.HARMED, "person harmed"), (PartyRole.RESPONSIBLE, "person responsible")):
        of_role = [p for p in active if p.role == role.value]
        if not of_role:
            waits.append(f"co-ordinator: add the {person}")
        elif not all(consented(p) for p in of_role):
            waits.append(f"{person}: consent")
    next_step = _stage_wait(case, today)
    if next_step is not None:
        waits.append(next_step)
    return tuple(waits)


async def rj_overview(*, db: AsyncSession, actor: Principal) -> Overview:
    """The co-ordinator's home: open cases by stage with whom each waits on, and accepted tasks with no case yet."""
    require_rj_hub(actor, *MANAGE)
    cases = list(
        (
            await db.exec(
                select(RjCase)
                .where(visible_cases(actor), col(RjCase.stage) != RjStage.CLOSED.value)
                .order_by(col(RjCase.id))
                .limit(MAX_OPEN_CASES)
            )
        ).all()
    )
    parties: dict[int, list[Party]] = defaultdict(list)
    if cases:
        found = await db.exec(select(Party).where(col(Party.case_id).in_([c.id for c in cases])))
        for party in found.all():
            parties[party.case_id].append(party)
    today = uk_today()
    open_cases = [
        OpenCase(
            case=case,
            waiting_on=_waiting_on(case, parties[case.id or 0], today),
            follow_up_overdue=case.follow_up_at is None
            and case.follow_up_due_on is not None
            and case.follow_up_due_on < today,
            awaiting_supervisor=case.stage == RjStage.ASSESSMENT.value
            and case.sensitive
            and case.assessed_suitable is True
            and case.approved_at is None,
        )
        for case in cases
    ]
    by_stage: dict[str, list[OpenCase]] = {stage.value: [] for stage in RjStage if stage is not RjStage.CLOSED}
    for entry in open_cases:
        by_stage[entry.case.stage].append(entry)
    with_case = select(RjCase.task_id).where(col(RjCase.task_id).is_not(None))
    tasks = await db.exec(
        select(ReferralTask.id, ReferralTask.reference, ReferralTask.accepted_at)
        .where(provider_tasks(actor), col(ReferralTask.status).in_(ACCEPTED), col(ReferralTask.id).not_in(with_case))
        .order_by(col(ReferralTask.id))
        .limit(MAX_OPEN_CASES)
    )
    awaiting = [AwaitingTask(task_id=i, reference=r, accepted_at=a) for i, r, a in tasks.all() if i is not None]
    return Overview(open_cases=open_cases, tasks_awaiting_cases=awaiting, by_stage=by_stage)


async def list_diary(
    *,
    db: AsyncSession,
    actor: Principal,
    starts_at: datetime,
    ends_at: datetime,
    facilitator_id: int | None = None,
    mine: bool = False,
) -> list[DiaryEntry]:
    """Scheduled and held conferences in [starts_at, ends_at) of the cases the actor may see, earliest first.

    `facilitator_id` narrows to one facilitator's; `mine` to the signed-in facilitator's own bookings.
    """
    require_rj_hub(actor, *CASEWORK)
    query = (
        select(Conference, RjCase.reference)
        .join(RjCase, col(RjCase.id) == col(Conference.case_id))
        .where(
            visible_cases(actor),
            col(Conference.starts_at) < ends_at,
            col(Conference.ends_at) > starts_at,
            col(Conference.status) != ConferenceStatus.CANCELLED.value,
        )
    )
    if facilitator_id is not None or mine:
        wanted = facilitator_id if facilitator_id is not None else (await own_facilitator(db, actor)).id
        booked = select(ConferenceFacilitator.conference_id).where(col(ConferenceFacilitator.facilitator_id) == wanted)
        query = query.where(col(Conference.id).in_(booked))
    rows = list((await db.exec(query.order_by(col(Conference.starts_at)).limit(MAX_DIARY_ENTRIES))).all())
    ids = [c.id for c, _ in rows if c.id is not None]
    facilitators: dict[int, list[int]] = defaultdict(list)
    if ids:
        links = await db.exec(
            select(ConferenceFacilitator)
            .where(col(ConferenceFacilitator.conference_id).in_(ids))
            .order_by(col(ConferenceFacilitator.facilitator_id))
        )
        for link in links.all():
            facilitators[link.conference_id].append(link.facilitator_id)
    return [DiaryEntry(c, reference, facilitators[c.id or 0]) for c, reference in rows]
