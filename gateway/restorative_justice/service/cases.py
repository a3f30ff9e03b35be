"""Opening RJ cases (from a Hub task or referred directly) and reading them: one case, a page, a caseload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import col, func, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import append_audit
from gateway.auth.principal import Principal, Scope
from gateway.clock import as_utc, utc_now
from gateway.db import AsyncSession
from gateway.errors import Conflict, ConsentRequired, InvalidTransition, NotFound, ValidationFailed
from gateway.idempotency.service import IdempotencyClaim, claim_for
from gateway.kit import first_or_not_found, page_size
from gateway.referrals.models import Case, ReferralTask, TaskStatus
from gateway.referrals.service import (
    get_provider_task,
    get_victim_view_for_task,
    load_consent_summaries_for_tasks,
)
from gateway.restorative_justice.models import (
    NOTES_MAX_LENGTH,
    AgreementAction,
    CaseNote,
    CaseSource,
    Conference,
    ConferenceParticipant,
    ConferenceStatus,
    Intervention,
    Party,
    PartyRole,
    PreparationMeeting,
    RjCase,
    RjStage,
)
from gateway.restorative_justice.service.access import (
    CASEWORK,
    MANAGE,
    audit_record,
    finish,
    load_case,
    load_facilitator,
    own_facilitator,
    require_rj_hub,
    visible_cases,
)
from gateway.restorative_justice.service.conferences import load_conference_links
from providers.profile import CrimeCategory

SENSITIVE_CRIMES = frozenset({CrimeCategory.DOMESTIC_ABUSE, CrimeCategory.SEXUAL_OFFENCE, CrimeCategory.HATE_CRIME})
# A task the RJ hub has accepted and is working; only such a task becomes a case.
ACCEPTED_TASK_STATUSES = frozenset({TaskStatus.ACCEPTED.value, TaskStatus.IN_PROGRESS.value})
# The rows of a case's detail, each read with one query.
OfCase = TypeVar("OfCase", Party, PreparationMeeting, Intervention, AgreementAction, Conference, CaseNote)


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: RjCase
    parties: list[Party]
    meetings: list[PreparationMeeting]
    interventions: list[Intervention]
    actions: list[AgreementAction]
    conferences: list[Conference]
    participants: dict[int, list[ConferenceParticipant]]
    conference_facilitators: dict[int, list[int]]
    notes: list[CaseNote]
    task_reference: str | None  # the Hub task the case was opened from, if any


@dataclass(frozen=True, slots=True)
class CaseloadEntry:
    case: RjCase
    role: str  # lead or co-facilitator
    next_conference_at: datetime | None


async def _new_reference(db: AsyncSession) -> str:
    year = utc_now().year
    prefix = f"RJ-{year}-"
    count = (await db.exec(select(func.count()).where(col(RjCase.reference).startswith(prefix)))).one()
    return f"{prefix}{int(count) + 1:06d}"


def _is_sensitive(crime_category: CrimeCategory, marked_sensitive: bool) -> bool:
    # The co-ordinator may mark any case sensitive but cannot unmark the categories that always are.
    return marked_sensitive or crime_category in SENSITIVE_CRIMES


async def _create_case(
    db: AsyncSession,
    actor: Principal,
    claim: IdempotencyClaim,
    *,
    source: CaseSource,
    crime_category: CrimeCategory,
    sensitive: bool,
    task_id: int | None,
) -> RjCase:
    case = RjCase(
        reference=await _new_reference(db),
        organisation_id=actor.organisation_id,
        source=source.value,
        task_id=task_id,
        crime_category=crime_category.value,
        sensitive=_is_sensitive(crime_category, sensitive),
        stage=RjStage.REFERRAL_RECEIVED.value,
        created_by=actor.actor_label,
    )
    db.add(case)
    await db.flush()
    assert case.id is not None
    await finish(db, actor, claim, case.id, [audit_record("rj.case.create", AuditCategory.COLLECTION, rj_case=case.id)])
    return case


async def create_case_from_task(
    *, db: AsyncSession, actor: Principal, task_id: int, marked_sensitive: bool = False, idempotency_key: str
) -> RjCase:
    """The RJ co-ordinator opens one case from a task sent to the RJ hub that it has accepted."""
    require_rj_hub(actor, *MANAGE)
    request = {"t": task_id, "s": marked_sensitive}
    claim = await claim_for(db=db, actor=actor, operation="rj.case.from-task", key=idempotency_key, request=request)
    if claim.replayed_result_id is not None:
        return await load_case(db, actor, claim.replayed_result_id)
    task: ReferralTask = await get_provider_task(db=db, actor=actor, task_id=task_id)
    if task.status not in ACCEPTED_TASK_STATUSES:
        raise InvalidTransition("Only a task the RJ hub has accepted can become an RJ case.")
    if (await db.exec(select(RjCase.id).where(col(RjCase.task_id) == task_id))).first() is not None:
        raise Conflict("That task already has an RJ case.")
    crime = (await db.exec(select(Case.crime_category).where(col(Case.id) == task.case_id))).one()
    harmed = await _harmed_party_from_task(db, actor, task_id)
    case = await _create_case(
        db,
        actor,
        claim,
        source=CaseSource.HUB_TASK,
        crime_category=CrimeCategory(crime),
        sensitive=marked_sensitive,
        task_id=task_id,
    )
    assert case.id is not None
    harmed.case_id = case.id
    db.add(harmed)
    await db.flush()
    brought = audit_record("rj.party.from-task", AuditCategory.COLLECTION, rj_case=case.id, rj_party=harmed.id)
    await append_audit(db=db, actor=actor, records=[brought])
    return case


def _safe_contact_notes(view: Any) -> str | None:
    """The Hub's safe-contact instructions for the victim, as the party's notes, so nobody types them again."""
    safe = view.safe_contact
    if safe is None:
        return None
    lines = []
    if safe.safe_phone:
        lines.append(f"Safe phone: {safe.safe_phone}")
    if safe.safe_times:
        lines.append(f"Safe times: {safe.safe_times}")
    if not safe.voicemail_safe:
        lines.append("Do not leave voicemail.")
    if not safe.letters_safe:
        lines.append("Do not send letters.")
    if safe.perpetrator_shares_address:
        lines.append("The perpetrator shares the address.")
    return "\n".join(lines)[:NOTES_MAX_LENGTH] or None


async def _harmed_party_from_task(db: AsyncSession, actor: Principal, task_id: int) -> Party:
    """The victim on the task as the case's person harmed, from what the RJ hub may see, with the Hub's consent.

    The read is the provider's ordinary, audited view of the victim; a victim the hub may no longer see (consent
    withdrawn or expired) cannot be brought in.
    """
    view = await get_victim_view_for_task(db=db, actor=actor, task_id=task_id)
    if view.redacted:
        raise ConsentRequired("The victim's consent no longer covers the RJ hub, so the case cannot be opened.")
    consent = (await load_consent_summaries_for_tasks(db=db, actor=actor, task_ids=[task_id])).get(task_id)
    consented = consent is not None and consent.state == "valid" and consent.method is not None
    return Party(
        case_id=0,
        role=PartyRole.HARMED.value,
        given_name=(view.given_name or "")[:100],
        family_name=(view.family_name or "")[:100],
        phone=view.phone,
        email=view.email,
        safe_contact_notes=_safe_contact_notes(view),
        consent_given_at=(consent.given_at or utc_now()) if consented and consent is not None else None,
        consent_method=consent.method if consented and consent is not None else None,
        # They asked the Hub for restorative justice and consented to the referral: willing until they say not.
        willing=consented,
    )


async def create_direct_case(
    *,
    db: AsyncSession,
    actor: Principal,
    source: CaseSource,
    crime_category: CrimeCategory,
    marked_sensitive: bool = False,
    idempotency_key: str,
) -> RjCase:
    """The RJ co-ordinator opens a case referred by an officer, another agency or the person themselves."""
    require_rj_hub(actor, *MANAGE)
    if source is CaseSource.HUB_TASK:
        raise ValidationFailed("A case from the Hub is opened from its accepted task.")
    request = {"s": source, "c": crime_category, "m": marked_sensitive}
    claim = await claim_for(db=db, actor=actor, operation="rj.case.create", key=idempotency_key, request=request)
    if claim.replayed_result_id is not None:
        return await load_case(db, actor, claim.replayed_result_id)
    return await _create_case(
        db, actor, claim, source=source, crime_category=crime_category, sensitive=marked_sensitive, task_id=None
    )


async def get_case(*, db: AsyncSession, actor: Principal, case_id: int) -> RjCase:
    """An RJ case the actor may see: any of the hub's for the co-ordinator, an assigned one for a facilitator."""
    return await load_case(db, actor, case_id)


async def list_cases(
    *, db: AsyncSession, actor: Principal, stage: RjStage | None = None, after_id: int | None = None, limit: int = 50
) -> list[RjCase]:
    """The RJ cases the actor may see, oldest first after the cursor; no personal data is in a case row."""
    query = select(RjCase).where(visible_cases(actor))
    if stage is not None:
        query = query.where(col(RjCase.stage) == stage.value)
    if after_id is not None:
        query = query.where(col(RjCase.id) > after_id)
    rows = await db.exec(query.order_by(col(RjCase.id)).limit(page_size(limit)))
    return list(rows.all())


async def _case_rows(db: AsyncSession, model: type[OfCase], case_id: int, order_by: Any) -> list[OfCase]:
    return list((await db.exec(select(model).where(col(model.case_id) == case_id).order_by(col(order_by)))).all())


async def get_case_detail(*, db: AsyncSession, actor: Principal, case_id: int) -> CaseDetail:
    """A case with its parties' contact details (each read audited), meetings, actions and conferences."""
    case = await load_case(db, actor, case_id)
    parties = await _case_rows(db, Party, case_id, Party.id)
    meetings = await _case_rows(db, PreparationMeeting, case_id, PreparationMeeting.held_at)
    interventions = await _case_rows(db, Intervention, case_id, Intervention.delivered_at)
    actions = await _case_rows(db, AgreementAction, case_id, AgreementAction.id)
    conferences = await _case_rows(db, Conference, case_id, Conference.starts_at)
    notes = await _case_rows(db, CaseNote, case_id, CaseNote.id)
    participants, booked = await load_conference_links(
        db=db, conference_ids=[c.id for c in conferences if c.id is not None]
    )
    if parties or notes:
        read: dict[str, Any] = {"rj_parties": [p.id for p in parties]}
        if notes:
            read["rj_notes"] = [n.id for n in notes]
        consulted = audit_record("rj.case.read", AuditCategory.CONSULTATION, rj_case=case_id, **read)
        await append_audit(db=db, actor=actor, records=[consulted])
    task_reference = None
    if case.task_id is not None:
        task_reference = (
            await db.exec(select(ReferralTask.reference).where(col(ReferralTask.id) == case.task_id))
        ).first()
    return CaseDetail(
        case, parties, meetings, interventions, actions, conferences, participants, booked, notes, task_reference
    )


async def find_case_by_reference(*, db: AsyncSession, actor: Principal, reference: str) -> RjCase:
    """A case the actor may see, by its reference (RJ-2026-000001), ignoring case and surrounding spaces."""
    wanted = reference.strip().upper()
    if not wanted or len(wanted) > 40:
        raise NotFound()
    return await first_or_not_found(db, select(RjCase).where(col(RjCase.reference) == wanted, visible_cases(actor)))


async def case_for_task(*, db: AsyncSession, actor: Principal, task_id: int) -> RjCase:
    """The RJ case opened from a Hub task, when the actor may see it: the link from the task back to its case."""
    return await first_or_not_found(db, select(RjCase).where(col(RjCase.task_id) == task_id, visible_cases(actor)))


async def list_caseload(
    *, db: AsyncSession, actor: Principal, facilitator_id: int | None = None
) -> list[CaseloadEntry]:
    """A facilitator's open cases as lead or co-facilitator: their own, or anyone's for the co-ordinator."""
    require_rj_hub(actor, *CASEWORK)
    if actor.has(Scope.RJ_MANAGE) and facilitator_id is not None:
        facilitator = await load_facilitator(db, actor, facilitator_id)
    else:
        facilitator = await own_facilitator(db, actor)
    assert facilitator.id is not None
    next_conference = (
        select(func.min(Conference.starts_at))
        .where(
            col(Conference.case_id) == col(RjCase.id),
            col(Conference.status) == ConferenceStatus.SCHEDULED.value,
            col(Conference.starts_at) >= utc_now(),
        )
        .correlate(RjCase)
        .scalar_subquery()
    )
    rows = await db.exec(
        select(RjCase, next_conference)
        .where(
            visible_cases(actor),
            col(RjCase.stage) != RjStage.CLOSED.value,
            sa.or_(col(RjCase.lead_facilitator_id) == facilitator.id, col(RjCase.co_facilitator_id) == facilitator.id),
        )
        .order_by(col(RjCase.id))
    )
    return [
        CaseloadEntry(
            case=case,
            role="lead" if case.lead_facilitator_id == facilitator.id else "co-facilitator",
            next_conference_at=as_utc(upcoming) if upcoming is not None else None,
        )
        for case, upcoming in rows.all()
    ]
