"""Rules for Restorative Justice casework at the RJ hub.

Who reaches what is decided in SQL: the RJ co-ordinator (rj:manage) reaches every case of the RJ hub, a
facilitator (rj:facilitate, a signed-in user) only the cases they are lead or co-facilitator on. No other
organisation reaches anything here; missing and not-yours raise the same NotFound.

The case supervisor: a sensitive case's assessment must be approved by a signed-in person holding the
rj-coordinator role (with rj:manage) who is not the person who recorded the assessment. Machine clients have no
roles, so they can never approve. Re-recording the assessment clears the approval.

Services flush and never commit; the caller commits once, or rolls back when a DomainError is raised.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, func, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.models import User
from gateway.auth.principal import Principal, Role, Scope
from gateway.consent.models import ConsentMethod
from gateway.consent.service import as_utc
from gateway.db import AsyncSession
from gateway.errors import (
    AccreditationExpired,
    CaseHalted,
    Conflict,
    FacilitatorDoubleBooked,
    Forbidden,
    InvalidTransition,
    NotFound,
    PartyDoubleBooked,
    SupervisorApprovalRequired,
    ValidationFailed,
    VenueTaken,
)
from gateway.idempotency.service import IdempotencyClaim, claim_idempotency_key, remember_result
from gateway.organisations.models import utc_now
from gateway.referrals.models import Case, ReferralTask, TaskStatus
from gateway.referrals.service import get_provider_task
from gateway.restorative_justice.models import (
    AgreementAction,
    CaseSource,
    ClosureReason,
    Conference,
    ConferenceFacilitator,
    ConferenceParticipant,
    ConferenceStatus,
    Facilitator,
    Intervention,
    InterventionKind,
    Party,
    PartyRole,
    PreparationMeeting,
    RjCase,
    RjStage,
    Satisfaction,
)
from providers.profile import CrimeCategory

RJ_HUB_SLUG = "rj-hub"
PURPOSE_RJ = "restorative-justice"
SENSITIVE_CRIMES = frozenset({CrimeCategory.DOMESTIC_ABUSE, CrimeCategory.SEXUAL_OFFENCE, CrimeCategory.HATE_CRIME})
# A task the RJ hub has accepted and is working; only such a task becomes a case.
ACCEPTED_TASK_STATUSES = frozenset({TaskStatus.ACCEPTED.value, TaskStatus.IN_PROGRESS.value})
INDIRECT_KINDS = frozenset({InterventionKind.SHUTTLE_MESSAGE, InterventionKind.LETTER_OF_EXPLANATION})
MAX_PAGE_SIZE = 100
MIN_CONFERENCE_MINUTES, MAX_CONFERENCE_MINUTES = 15, 8 * 60
# Scheduling conflicts are checked then written; this lock makes check-and-book one step on PostgreSQL.
CONFERENCE_BOOKING_LOCK_KEY = 0x726A_636F_6E66  # "rjconf"
FEED_TOKEN_BYTES = 32


# ---------------------------------------------------------------------------------------------------------------------
# Inputs and results


@dataclass(frozen=True, slots=True)
class PartyInput:
    role: PartyRole
    given_name: str
    family_name: str
    phone: str | None = None
    email: str | None = None
    safe_contact_notes: str | None = None
    supports_party_id: int | None = None


@dataclass(frozen=True, slots=True)
class ActionInput:
    description: str
    owner_party_id: int
    due_on: date


@dataclass(frozen=True, slots=True)
class ConferenceBooking:
    starts_at: datetime
    duration_minutes: int
    venue: str | None
    video_call: bool
    party_ids: frozenset[int]
    # Empty: the case's lead and co-facilitator.
    facilitator_ids: frozenset[int] = frozenset()


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


@dataclass(frozen=True, slots=True)
class CaseloadEntry:
    case: RjCase
    role: str  # lead or co-facilitator
    next_conference_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedFeedToken:
    facilitator: Facilitator
    token: str  # shown once; only its hash is stored


@dataclass(frozen=True, slots=True)
class FeedConference:
    conference: Conference
    case_reference: str


@dataclass(frozen=True, slots=True)
class RjQuarterlyCounts:
    """The RJ hub's grant-monitoring counts for one period; every event counts in the period it happened."""

    cases_referred: int
    assessed_suitable: int
    direct_interventions: int  # cases with a direct conference delivered in the period
    indirect_interventions: int  # cases with a shuttle message or letter delivered in the period
    agreements_completed: int
    follow_ups_recorded: int
    harmed_satisfied: int  # of the follow-ups recorded, those where the person harmed was satisfied


# ---------------------------------------------------------------------------------------------------------------------
# Who may reach what


def _require_rj_hub(actor: Principal, *scopes: Scope) -> None:
    # A client of another organisation mistakenly granted an RJ scope still reaches nothing here.
    if actor.organisation_slug != RJ_HUB_SLUG or not any(actor.has(scope) for scope in scopes):
        raise Forbidden()


def _my_facilitator_id(actor: Principal) -> Any:
    return (
        select(Facilitator.id)
        .where(col(Facilitator.user_id) == actor.user_id, col(Facilitator.organisation_id) == actor.organisation_id)
        .scalar_subquery()
    )


def _visible_cases(actor: Principal) -> ColumnElement[bool]:
    """The co-ordinator's organisation's cases, or a facilitator's assigned ones: a WHERE clause, never a check."""
    own_organisation = col(RjCase.organisation_id) == actor.organisation_id
    if actor.organisation_slug == RJ_HUB_SLUG and actor.has(Scope.RJ_MANAGE):
        return own_organisation
    if actor.organisation_slug == RJ_HUB_SLUG and actor.has(Scope.RJ_FACILITATE) and actor.user_id is not None:
        mine = _my_facilitator_id(actor)
        return sa.and_(
            own_organisation, sa.or_(col(RjCase.lead_facilitator_id) == mine, col(RjCase.co_facilitator_id) == mine)
        )
    raise Forbidden()


async def _load_case(db: AsyncSession, actor: Principal, case_id: int, *, lock: bool = False) -> RjCase:
    query = select(RjCase).where(col(RjCase.id) == case_id, _visible_cases(actor))
    if lock:
        query = query.with_for_update()  # PostgreSQL serialises racing transitions; SQLite has one writer anyway
    found = (await db.exec(query)).first()
    if found is None:
        raise NotFound()
    return found


async def _load_party(db: AsyncSession, actor: Principal, party_id: int) -> tuple[Party, RjCase]:
    row = (
        await db.exec(
            select(Party, RjCase)
            .join(RjCase, col(RjCase.id) == col(Party.case_id))
            .where(col(Party.id) == party_id, _visible_cases(actor))
        )
    ).first()
    if row is None:
        raise NotFound()
    return row[0], row[1]


async def _load_conference(db: AsyncSession, actor: Principal, conference_id: int) -> tuple[Conference, RjCase]:
    row = (
        await db.exec(
            select(Conference, RjCase)
            .join(RjCase, col(RjCase.id) == col(Conference.case_id))
            .where(col(Conference.id) == conference_id, _visible_cases(actor))
        )
    ).first()
    if row is None:
        raise NotFound()
    return row[0], row[1]


async def _claim(
    db: AsyncSession, actor: Principal, operation: str, key: str, request: dict[str, Any]
) -> IdempotencyClaim:
    return await claim_idempotency_key(
        db=db, organisation_id=actor.organisation_id, operation=operation, key=key, request=request
    )


def _audit(action: str, category: AuditCategory = AuditCategory.ALTERATION, **subject_ids: Any) -> AuditRecord:
    return AuditRecord(category=category, action=action, purpose=PURPOSE_RJ, subject_ids=subject_ids)


async def _finish(
    db: AsyncSession, actor: Principal, claim: IdempotencyClaim, result_id: int, records: Sequence[AuditRecord]
) -> None:
    await db.flush()
    await append_audit(db=db, actor=actor, records=records)
    await remember_result(db=db, claim=claim, result_id=result_id)


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"A page holds 1 to {MAX_PAGE_SIZE} items.")
    return limit


def _text(value: str | None, what: str, *, max_length: int, required: bool = False) -> str | None:
    cleaned = value.strip() if value is not None else None
    if not cleaned:
        if required:
            raise ValidationFailed(f"The {what} is required.")
        return None
    if len(cleaned) > max_length:
        raise ValidationFailed(f"The {what} is at most {max_length} characters.")
    return cleaned


def _not_future(moment: datetime, what: str) -> datetime:
    moment = as_utc(moment)
    if moment > utc_now() + timedelta(minutes=5):
        raise ValidationFailed(f"The {what} cannot be in the future.")
    return moment


# ---------------------------------------------------------------------------------------------------------------------
# Stages


def _require_stage(case: RjCase, *allowed: RjStage) -> None:
    if case.stage == RjStage.CLOSED.value:
        raise InvalidTransition("The RJ case is closed.")
    if case.halted_at is not None:
        raise CaseHalted()
    if case.stage not in allowed:
        wanted = " or ".join(stage.value for stage in allowed)
        raise InvalidTransition(f"The RJ case is at {case.stage}; this needs it at {wanted}.")


def _require_cleared_assessment(case: RjCase) -> None:
    """Past assessment only when assessed suitable and, for a sensitive case, approved by a case supervisor."""
    if case.assessed_suitable is not True:
        raise InvalidTransition("Only a case assessed as suitable can progress past assessment.")
    if case.sensitive and case.approved_at is None:
        raise SupervisorApprovalRequired()


def _move(case: RjCase, stage: RjStage) -> None:
    case.stage = stage.value
    case.updated_at = utc_now()


async def _cancel_scheduled_conferences(db: AsyncSession, case_id: int, reason: str) -> list[int]:
    ids = list(
        (
            await db.exec(
                select(Conference.id).where(
                    col(Conference.case_id) == case_id, col(Conference.status) == ConferenceStatus.SCHEDULED.value
                )
            )
        ).all()
    )
    if ids:
        await db.exec(
            sa.update(Conference)
            .where(col(Conference.id).in_(ids))
            .values(
                status=ConferenceStatus.CANCELLED.value,
                status_reason=reason,
                sequence=col(Conference.sequence) + 1,
                updated_at=utc_now(),
            )
            .execution_options(synchronize_session=False)
        )
    return [i for i in ids if i is not None]


# ---------------------------------------------------------------------------------------------------------------------
# Facilitators


def _accredited_on(facilitator: Facilitator, day: date) -> bool:
    return facilitator.accreditation_expires_on >= day


async def register_facilitator(
    *,
    db: AsyncSession,
    actor: Principal,
    user_id: int,
    home_agency: str,
    accreditation_level: str,
    accreditation_expires_on: date,
    idempotency_key: str,
) -> Facilitator:
    """The co-ordinator registers a member of the RJ hub with the rj-facilitator role as a facilitator."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    request = {"u": user_id, "a": home_agency, "l": accreditation_level, "e": accreditation_expires_on}
    claim = await _claim(db, actor, "rj.facilitator.register", idempotency_key, request)
    if claim.replayed_result_id is not None:
        return await _load_facilitator(db, actor, claim.replayed_result_id)
    user = (
        await db.exec(select(User).where(col(User.id) == user_id, col(User.organisation_id) == actor.organisation_id))
    ).first()
    if user is None:
        raise NotFound()
    if Role.RJ_FACILITATOR.value not in user.roles:
        raise ValidationFailed("Only a user with the rj-facilitator role can be registered as a facilitator.")
    if (await db.exec(select(Facilitator.id).where(col(Facilitator.user_id) == user_id))).first() is not None:
        raise Conflict("That user is already registered as a facilitator.")
    facilitator = Facilitator(
        organisation_id=actor.organisation_id,
        user_id=user_id,
        home_agency=_text(home_agency, "home agency", max_length=120, required=True) or "",
        accreditation_level=_text(accreditation_level, "accreditation level", max_length=60, required=True) or "",
        accreditation_expires_on=accreditation_expires_on,
    )
    db.add(facilitator)
    await db.flush()
    assert facilitator.id is not None
    await _finish(db, actor, claim, facilitator.id, [_audit("rj.facilitator.register", rj_facilitator=facilitator.id)])
    return facilitator


async def renew_accreditation(
    *, db: AsyncSession, actor: Principal, facilitator_id: int, level: str, expires_on: date, idempotency_key: str
) -> Facilitator:
    """The co-ordinator records a facilitator's renewed accreditation level and expiry."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    claim = await _claim(
        db, actor, "rj.facilitator.renew", idempotency_key, {"f": facilitator_id, "l": level, "e": expires_on}
    )
    facilitator = await _load_facilitator(db, actor, claim.replayed_result_id or facilitator_id)
    if claim.replayed_result_id is not None:
        return facilitator
    facilitator.accreditation_level = _text(level, "accreditation level", max_length=60, required=True) or ""
    facilitator.accreditation_expires_on = expires_on
    db.add(facilitator)
    assert facilitator.id is not None
    await _finish(db, actor, claim, facilitator.id, [_audit("rj.facilitator.renew", rj_facilitator=facilitator.id)])
    return facilitator


async def _load_facilitator(db: AsyncSession, actor: Principal, facilitator_id: int) -> Facilitator:
    found = (
        await db.exec(
            select(Facilitator).where(
                col(Facilitator.id) == facilitator_id, col(Facilitator.organisation_id) == actor.organisation_id
            )
        )
    ).first()
    if found is None:
        raise NotFound()
    return found


async def list_facilitators(*, db: AsyncSession, actor: Principal) -> list[Facilitator]:
    """The co-ordinator lists the RJ hub's facilitators."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    rows = await db.exec(
        select(Facilitator)
        .where(col(Facilitator.organisation_id) == actor.organisation_id)
        .order_by(col(Facilitator.id))
    )
    return list(rows.all())


async def _accredited_facilitators(
    db: AsyncSession, actor: Principal, facilitator_ids: Sequence[int], day: date
) -> list[Facilitator]:
    found = {
        f.id: f
        for f in (
            await db.exec(
                select(Facilitator).where(
                    col(Facilitator.id).in_(list(facilitator_ids)),
                    col(Facilitator.organisation_id) == actor.organisation_id,
                )
            )
        ).all()
    }
    facilitators = []
    for facilitator_id in facilitator_ids:
        facilitator = found.get(facilitator_id)
        if facilitator is None:
            raise NotFound()
        if not _accredited_on(facilitator, day):
            raise AccreditationExpired()
        facilitators.append(facilitator)
    return facilitators


async def assign_facilitators(
    *,
    db: AsyncSession,
    actor: Principal,
    case_id: int,
    lead_facilitator_id: int,
    co_facilitator_id: int | None,
    idempotency_key: str,
) -> RjCase:
    """The co-ordinator assigns a lead and optional co-facilitator, both accredited today and not the same person."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    claim = await _claim(
        db, actor, "rj.case.assign", idempotency_key, {"c": case_id, "l": lead_facilitator_id, "co": co_facilitator_id}
    )
    if claim.replayed_result_id is not None:
        return await _load_case(db, actor, claim.replayed_result_id)
    case = await _load_case(db, actor, case_id, lock=True)
    if case.stage == RjStage.CLOSED.value:
        raise InvalidTransition("The RJ case is closed.")
    if co_facilitator_id == lead_facilitator_id:
        raise ValidationFailed("The lead and the co-facilitator must be different people.")
    ids = [lead_facilitator_id] + ([co_facilitator_id] if co_facilitator_id is not None else [])
    await _accredited_facilitators(db, actor, ids, utc_now().date())
    case.lead_facilitator_id = lead_facilitator_id
    case.co_facilitator_id = co_facilitator_id
    case.updated_at = utc_now()
    db.add(case)
    assert case.id is not None
    audit = _audit("rj.case.assign", rj_case=case.id, lead=lead_facilitator_id, co=co_facilitator_id)
    await _finish(db, actor, claim, case.id, [audit])
    return case


async def rotate_feed_token(
    *, db: AsyncSession, actor: Principal, facilitator_id: int | None = None
) -> IssuedFeedToken:
    """A new calendar-feed token replaces the old: the co-ordinator issues anyone's, a facilitator their own."""
    _require_rj_hub(actor, Scope.RJ_MANAGE, Scope.RJ_FACILITATE)
    if actor.has(Scope.RJ_MANAGE) and facilitator_id is not None:
        facilitator = await _load_facilitator(db, actor, facilitator_id)
    else:
        facilitator = await _own_facilitator(db, actor)
        if facilitator_id is not None and facilitator.id != facilitator_id:
            raise NotFound()
    token = secrets.token_urlsafe(FEED_TOKEN_BYTES)
    facilitator.feed_token_hash = feed_token_hash(token)
    facilitator.feed_token_rotated_at = utc_now()
    db.add(facilitator)
    await db.flush()
    await append_audit(db=db, actor=actor, records=[_audit("rj.calendar.rotate", rj_facilitator=facilitator.id)])
    return IssuedFeedToken(facilitator=facilitator, token=token)


async def _own_facilitator(db: AsyncSession, actor: Principal) -> Facilitator:
    if actor.user_id is None:
        raise NotFound()
    found = (
        await db.exec(
            select(Facilitator).where(
                col(Facilitator.user_id) == actor.user_id, col(Facilitator.organisation_id) == actor.organisation_id
            )
        )
    ).first()
    if found is None:
        raise NotFound()
    return found


def feed_token_hash(token: str) -> str:
    """sha256 of a feed token: the token is 256 random bits, so a fast hash is enough and lookups stay indexed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def feed_for_token(*, db: AsyncSession, token: str) -> tuple[Facilitator, list[FeedConference]] | None:
    """The conferences of the active facilitator whose feed token this is; None for any token that is not one."""
    if not token or len(token) > 200:
        return None
    facilitator = (
        await db.exec(
            select(Facilitator)
            .join(User, col(User.id) == col(Facilitator.user_id))
            .where(col(Facilitator.feed_token_hash) == feed_token_hash(token), col(User.active).is_(True))
        )
    ).first()
    if facilitator is None:
        return None
    # A recent past stays visible so a calendar shows what happened; cancelled ones go out as CANCELLED.
    since = utc_now() - timedelta(days=90)
    rows = await db.exec(
        select(Conference, RjCase.reference)
        .join(RjCase, col(RjCase.id) == col(Conference.case_id))
        .join(ConferenceFacilitator, col(ConferenceFacilitator.conference_id) == col(Conference.id))
        .where(col(ConferenceFacilitator.facilitator_id) == facilitator.id, col(Conference.ends_at) >= since)
        .order_by(col(Conference.starts_at))
    )
    return facilitator, [FeedConference(conference=c, case_reference=r) for c, r in rows.all()]


# ---------------------------------------------------------------------------------------------------------------------
# Cases


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
    await _finish(db, actor, claim, case.id, [_audit("rj.case.create", AuditCategory.COLLECTION, rj_case=case.id)])
    return case


async def create_case_from_task(
    *, db: AsyncSession, actor: Principal, task_id: int, marked_sensitive: bool = False, idempotency_key: str
) -> RjCase:
    """The RJ co-ordinator opens one case from a task sent to the RJ hub that it has accepted."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    claim = await _claim(db, actor, "rj.case.from-task", idempotency_key, {"t": task_id, "s": marked_sensitive})
    if claim.replayed_result_id is not None:
        return await _load_case(db, actor, claim.replayed_result_id)
    task: ReferralTask = await get_provider_task(db=db, actor=actor, task_id=task_id)
    if task.status not in ACCEPTED_TASK_STATUSES:
        raise InvalidTransition("Only a task the RJ hub has accepted can become an RJ case.")
    if (await db.exec(select(RjCase.id).where(col(RjCase.task_id) == task_id))).first() is not None:
        raise Conflict("That task already has an RJ case.")
    crime = (await db.exec(select(Case.crime_category).where(col(Case.id) == task.case_id))).one()
    return await _create_case(
        db,
        actor,
        claim,
        source=CaseSource.HUB_TASK,
        crime_category=CrimeCategory(crime),
        sensitive=marked_sensitive,
        task_id=task_id,
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
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    if source is CaseSource.HUB_TASK:
        raise ValidationFailed("A case from the Hub is opened from its accepted task.")
    claim = await _claim(
        db, actor, "rj.case.create", idempotency_key, {"s": source, "c": crime_category, "m": marked_sensitive}
    )
    if claim.replayed_result_id is not None:
        return await _load_case(db, actor, claim.replayed_result_id)
    return await _create_case(
        db, actor, claim, source=source, crime_category=crime_category, sensitive=marked_sensitive, task_id=None
    )


async def get_case(*, db: AsyncSession, actor: Principal, case_id: int) -> RjCase:
    """An RJ case the actor may see: any of the hub's for the co-ordinator, an assigned one for a facilitator."""
    return await _load_case(db, actor, case_id)


async def list_cases(
    *, db: AsyncSession, actor: Principal, stage: RjStage | None = None, after_id: int | None = None, limit: int = 50
) -> list[RjCase]:
    """The RJ cases the actor may see, oldest first after the cursor; no personal data is in a case row."""
    query = select(RjCase).where(_visible_cases(actor))
    if stage is not None:
        query = query.where(col(RjCase.stage) == stage.value)
    if after_id is not None:
        query = query.where(col(RjCase.id) > after_id)
    rows = await db.exec(query.order_by(col(RjCase.id)).limit(_page_size(limit)))
    return list(rows.all())


async def get_case_detail(*, db: AsyncSession, actor: Principal, case_id: int) -> CaseDetail:
    """A case with its parties' contact details (each read audited), meetings, actions and conferences."""
    case = await _load_case(db, actor, case_id)
    parties = list((await db.exec(select(Party).where(col(Party.case_id) == case_id).order_by(col(Party.id)))).all())
    meetings = list(
        (
            await db.exec(
                select(PreparationMeeting)
                .where(col(PreparationMeeting.case_id) == case_id)
                .order_by(col(PreparationMeeting.held_at))
            )
        ).all()
    )
    interventions = list(
        (
            await db.exec(
                select(Intervention)
                .where(col(Intervention.case_id) == case_id)
                .order_by(col(Intervention.delivered_at))
            )
        ).all()
    )
    actions = list(
        (
            await db.exec(
                select(AgreementAction).where(col(AgreementAction.case_id) == case_id).order_by(col(AgreementAction.id))
            )
        ).all()
    )
    conferences = list(
        (
            await db.exec(
                select(Conference).where(col(Conference.case_id) == case_id).order_by(col(Conference.starts_at))
            )
        ).all()
    )
    participants, booked = await load_conference_links(
        db=db, conference_ids=[c.id for c in conferences if c.id is not None]
    )
    if parties:
        consulted = _audit(
            "rj.case.read", AuditCategory.CONSULTATION, rj_case=case_id, rj_parties=[p.id for p in parties]
        )
        await append_audit(db=db, actor=actor, records=[consulted])
    return CaseDetail(case, parties, meetings, interventions, actions, conferences, participants, booked)


async def load_conference_links(
    *, db: AsyncSession, conference_ids: Sequence[int]
) -> tuple[dict[int, list[ConferenceParticipant]], dict[int, list[int]]]:
    """Participants and facilitator ids of conferences the caller has already been allowed to load, in two queries."""
    participants: dict[int, list[ConferenceParticipant]] = {i: [] for i in conference_ids}
    booked: dict[int, list[int]] = {i: [] for i in conference_ids}
    if conference_ids:
        for participant in (
            await db.exec(
                select(ConferenceParticipant)
                .where(col(ConferenceParticipant.conference_id).in_(list(conference_ids)))
                .order_by(col(ConferenceParticipant.party_id))
            )
        ).all():
            participants[participant.conference_id].append(participant)
        for link in (
            await db.exec(
                select(ConferenceFacilitator)
                .where(col(ConferenceFacilitator.conference_id).in_(list(conference_ids)))
                .order_by(col(ConferenceFacilitator.facilitator_id))
            )
        ).all():
            booked[link.conference_id].append(link.facilitator_id)
    return participants, booked


async def list_caseload(
    *, db: AsyncSession, actor: Principal, facilitator_id: int | None = None
) -> list[CaseloadEntry]:
    """A facilitator's open cases as lead or co-facilitator: their own, or anyone's for the co-ordinator."""
    _require_rj_hub(actor, Scope.RJ_MANAGE, Scope.RJ_FACILITATE)
    if actor.has(Scope.RJ_MANAGE) and facilitator_id is not None:
        facilitator = await _load_facilitator(db, actor, facilitator_id)
    else:
        facilitator = await _own_facilitator(db, actor)
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
            _visible_cases(actor),
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


async def _case_change(
    db: AsyncSession,
    actor: Principal,
    *,
    operation: str,
    case_id: int,
    idempotency_key: str,
    request: dict[str, Any],
) -> tuple[IdempotencyClaim, RjCase, bool]:
    """Claim the key and load the case locked; the flag says the result is a replay and nothing must change."""
    _require_rj_hub(actor, Scope.RJ_MANAGE, Scope.RJ_FACILITATE)
    claim = await _claim(db, actor, operation, idempotency_key, {"c": case_id, **request})
    if claim.replayed_result_id is not None:
        return claim, await _load_case(db, actor, claim.replayed_result_id), True
    return claim, await _load_case(db, actor, case_id, lock=True), False


async def _save_case(
    db: AsyncSession, actor: Principal, claim: IdempotencyClaim, case: RjCase, operation: str, **subject_ids: Any
) -> RjCase:
    db.add(case)
    assert case.id is not None
    await _finish(db, actor, claim, case.id, [_audit(operation, rj_case=case.id, **subject_ids)])
    return case


async def record_initial_contact(
    *, db: AsyncSession, actor: Principal, case_id: int, contacted_at: datetime, idempotency_key: str
) -> RjCase:
    """Initial contact follows the referral being received, and only that."""
    claim, case, replay = await _case_change(
        db, actor, operation="rj.case.contact", case_id=case_id, idempotency_key=idempotency_key, request={}
    )
    if replay:
        return case
    _require_stage(case, RjStage.REFERRAL_RECEIVED)
    case.initial_contact_at = _not_future(contacted_at, "contact time")
    _move(case, RjStage.INITIAL_CONTACT)
    return await _save_case(db, actor, claim, case, "rj.case.contact")


async def record_assessment(
    *, db: AsyncSession, actor: Principal, case_id: int, suitable: bool, risk_level: str, idempotency_key: str
) -> RjCase:
    """Suitability and risk are assessed after initial contact; re-assessing clears any supervisor approval."""
    claim, case, replay = await _case_change(
        db,
        actor,
        operation="rj.case.assess",
        case_id=case_id,
        idempotency_key=idempotency_key,
        request={"s": suitable, "r": risk_level},
    )
    if replay:
        return case
    _require_stage(case, RjStage.INITIAL_CONTACT, RjStage.ASSESSMENT)
    case.assessed_suitable = suitable
    case.risk_level = _text(risk_level, "risk level", max_length=20, required=True)
    case.assessed_by = actor.actor_label
    case.assessed_at = utc_now()
    case.approved_by = None
    case.approved_at = None
    _move(case, RjStage.ASSESSMENT)
    return await _save_case(db, actor, claim, case, "rj.case.assess")


def _is_case_supervisor(actor: Principal) -> bool:
    return (
        actor.user_id is not None
        and actor.organisation_slug == RJ_HUB_SLUG
        and actor.has(Scope.RJ_MANAGE)
        and Role.RJ_COORDINATOR in actor.roles
    )


async def approve_assessment(*, db: AsyncSession, actor: Principal, case_id: int, idempotency_key: str) -> RjCase:
    """A case supervisor (an rj-coordinator person, not the assessor) approves a sensitive case's assessment."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    claim, case, replay = await _case_change(
        db, actor, operation="rj.case.approve", case_id=case_id, idempotency_key=idempotency_key, request={}
    )
    if replay:
        return case
    _require_stage(case, RjStage.ASSESSMENT)
    if not _is_case_supervisor(actor):
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
    return await _save_case(db, actor, claim, case, "rj.case.approve")


# ---------------------------------------------------------------------------------------------------------------------
# Parties


async def _case_parties(db: AsyncSession, case_id: int) -> list[Party]:
    return list((await db.exec(select(Party).where(col(Party.case_id) == case_id))).all())


async def add_party(
    *, db: AsyncSession, actor: Principal, case_id: int, party: PartyInput, idempotency_key: str
) -> Party:
    """The co-ordinator adds a person harmed, a person responsible, or a supporter of one of them."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    claim = await _claim(db, actor, "rj.party.add", idempotency_key, {"c": case_id, "p": party})
    if claim.replayed_result_id is not None:
        return (await _load_party(db, actor, claim.replayed_result_id))[0]
    case = await _load_case(db, actor, case_id, lock=True)
    _require_stage(case, *[s for s in RjStage if s is not RjStage.CLOSED])
    if party.role is PartyRole.SUPPORTER:
        supported = next((p for p in await _case_parties(db, case_id) if p.id == party.supports_party_id), None)
        if supported is None or supported.role == PartyRole.SUPPORTER.value:
            raise ValidationFailed("A supporter supports a person harmed or responsible in the same case.")
    elif party.supports_party_id is not None:
        raise ValidationFailed("Only a supporter supports another party.")
    row = Party(
        case_id=case_id,
        role=party.role.value,
        supports_party_id=party.supports_party_id,
        given_name=_text(party.given_name, "given name", max_length=100, required=True) or "",
        family_name=_text(party.family_name, "family name", max_length=100, required=True) or "",
        phone=_text(party.phone, "phone", max_length=32),
        email=_text(party.email, "email", max_length=254),
        safe_contact_notes=_text(party.safe_contact_notes, "safe-contact notes", max_length=200),
    )
    db.add(row)
    await db.flush()
    assert row.id is not None
    await _finish(
        db, actor, claim, row.id, [_audit("rj.party.add", AuditCategory.COLLECTION, rj_case=case_id, rj_party=row.id)]
    )
    return row


async def record_party_consent(
    *,
    db: AsyncSession,
    actor: Principal,
    party_id: int,
    method: ConsentMethod,
    willing: bool,
    idempotency_key: str,
) -> Party:
    """A party's own consent and willingness to take part; a withdrawn party cannot be re-consented here."""
    _require_rj_hub(actor, Scope.RJ_MANAGE, Scope.RJ_FACILITATE)
    claim = await _claim(db, actor, "rj.party.consent", idempotency_key, {"p": party_id, "m": method, "w": willing})
    party, case = await _load_party(db, actor, claim.replayed_result_id or party_id)
    if claim.replayed_result_id is not None:
        return party
    _require_stage(case, *[s for s in RjStage if s is not RjStage.CLOSED])
    if party.withdrawn_at is not None:
        raise InvalidTransition("This party has withdrawn.")
    party.consent_given_at = utc_now()
    party.consent_method = method.value
    party.willing = willing
    db.add(party)
    assert party.id is not None
    await _finish(db, actor, claim, party.id, [_audit("rj.party.consent", rj_case=case.id, rj_party=party.id)])
    return party


async def withdraw_party(*, db: AsyncSession, actor: Principal, party_id: int, idempotency_key: str) -> Party:
    """A party withdraws: the case halts at once, its scheduled conferences are cancelled, and it is audited."""
    _require_rj_hub(actor, Scope.RJ_MANAGE, Scope.RJ_FACILITATE)
    claim = await _claim(db, actor, "rj.party.withdraw", idempotency_key, {"p": party_id})
    party, case = await _load_party(db, actor, claim.replayed_result_id or party_id)
    if claim.replayed_result_id is not None:
        return party
    if case.stage == RjStage.CLOSED.value:
        raise InvalidTransition("The RJ case is closed.")
    if party.withdrawn_at is not None:
        raise InvalidTransition("This party has already withdrawn.")
    now = utc_now()
    party.withdrawn_at = now
    party.willing = False
    db.add(party)
    case.halted_at = case.halted_at or now
    case.updated_at = now
    db.add(case)
    await db.flush()
    assert case.id is not None and party.id is not None
    cancelled = await _cancel_scheduled_conferences(db, case.id, "party-withdrew")
    audit = _audit("rj.party.withdraw", rj_case=case.id, rj_party=party.id, cancelled_conferences=cancelled)
    await _finish(db, actor, claim, party.id, [audit])
    return party


def _consented(party: Party) -> bool:
    return party.withdrawn_at is None and party.consent_given_at is not None and party.willing


# ---------------------------------------------------------------------------------------------------------------------
# Preparation, intervention, agreement, follow-up, closure


async def record_preparation_meeting(
    *, db: AsyncSession, actor: Principal, case_id: int, party_id: int, held_at: datetime, idempotency_key: str
) -> RjCase:
    """Preparation meetings follow a cleared assessment, one party at a time, each party consenting and willing."""
    claim, case, replay = await _case_change(
        db,
        actor,
        operation="rj.case.prepare",
        case_id=case_id,
        idempotency_key=idempotency_key,
        request={"p": party_id, "h": held_at},
    )
    if replay:
        return case
    _require_stage(case, RjStage.ASSESSMENT, RjStage.PREPARATION)
    _require_cleared_assessment(case)
    party = next((p for p in await _case_parties(db, case_id) if p.id == party_id), None)
    if party is None:
        raise NotFound()
    if not _consented(party):
        raise InvalidTransition("A preparation meeting needs the party's own consent and willingness.")
    meeting = PreparationMeeting(
        case_id=case_id, party_id=party_id, held_at=_not_future(held_at, "meeting time"), recorded_by=actor.actor_label
    )
    db.add(meeting)
    _move(case, RjStage.PREPARATION)
    await db.flush()
    return await _save_case(db, actor, claim, case, "rj.case.prepare", rj_party=party_id, rj_meeting=meeting.id)


async def _require_ready_for_intervention(db: AsyncSession, case: RjCase) -> None:
    """Someone harmed and someone responsible take part, each consenting and each prepared."""
    assert case.id is not None
    parties = [p for p in await _case_parties(db, case.id) if p.role != PartyRole.SUPPORTER.value]
    prepared = set(
        (await db.exec(select(PreparationMeeting.party_id).where(col(PreparationMeeting.case_id) == case.id))).all()
    )
    for role in (PartyRole.HARMED, PartyRole.RESPONSIBLE):
        if not any(p.role == role.value for p in parties):
            raise InvalidTransition(f"An intervention needs a {role.value} party.")
    for party in parties:
        if not _consented(party):
            raise InvalidTransition("Every person harmed and responsible must consent before the intervention.")
        if party.id not in prepared:
            raise InvalidTransition("Every person harmed and responsible needs a preparation meeting first.")


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
    claim, case, replay = await _case_change(
        db,
        actor,
        operation="rj.case.intervene",
        case_id=case_id,
        idempotency_key=idempotency_key,
        request={"k": kind, "d": delivered_at, "conf": conference_id},
    )
    if replay:
        return case
    _require_stage(case, RjStage.PREPARATION, RjStage.INTERVENTION)
    _require_cleared_assessment(case)
    await _require_ready_for_intervention(db, case)
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
    delivered = _not_future(delivered_at, "delivery time")
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
    _move(case, RjStage.INTERVENTION)
    await db.flush()
    return await _save_case(db, actor, claim, case, "rj.case.intervene", rj_intervention=intervention.id)


async def record_outcome_agreement(
    *, db: AsyncSession, actor: Principal, case_id: int, actions: Sequence[ActionInput], idempotency_key: str
) -> RjCase:
    """The outcome agreement follows the intervention; each action is owned by a party of the case."""
    claim, case, replay = await _case_change(
        db,
        actor,
        operation="rj.case.agree",
        case_id=case_id,
        idempotency_key=idempotency_key,
        request={"a": list(actions)},
    )
    if replay:
        return case
    _require_stage(case, RjStage.INTERVENTION)
    if not actions:
        raise ValidationFailed("An outcome agreement has at least one action; with none, schedule the follow-up.")
    party_ids = {p.id for p in await _case_parties(db, case_id)}
    for action in actions:
        if action.owner_party_id not in party_ids:
            raise ValidationFailed("Each action is owned by a party of this case.")
        db.add(
            AgreementAction(
                case_id=case_id,
                description=_text(action.description, "action description", max_length=500, required=True) or "",
                owner_party_id=action.owner_party_id,
                due_on=action.due_on,
            )
        )
    case.agreement_recorded_at = utc_now()
    _move(case, RjStage.OUTCOME_AGREEMENT)
    return await _save_case(db, actor, claim, case, "rj.case.agree")


async def mark_action_done(*, db: AsyncSession, actor: Principal, action_id: int, idempotency_key: str) -> RjCase:
    """An agreement action is marked done; when the last one is, the agreement is completed."""
    _require_rj_hub(actor, Scope.RJ_MANAGE, Scope.RJ_FACILITATE)
    case_id = (await db.exec(select(AgreementAction.case_id).where(col(AgreementAction.id) == action_id))).first()
    claim, case, replay = await _case_change(
        db,
        actor,
        operation="rj.action.done",
        case_id=case_id if case_id is not None else 0,
        idempotency_key=idempotency_key,
        request={"a": action_id},
    )
    if replay:
        return case
    _require_stage(case, RjStage.OUTCOME_AGREEMENT, RjStage.FOLLOW_UP)
    action = await db.get(AgreementAction, action_id)
    assert action is not None
    if action.done_at is not None:
        raise InvalidTransition("That action is already done.")
    action.done_at = utc_now()
    db.add(action)
    await db.flush()
    open_actions = (
        await db.exec(
            select(func.count()).where(col(AgreementAction.case_id) == case.id, col(AgreementAction.done_at).is_(None))
        )
    ).one()
    if int(open_actions) == 0:
        case.agreement_completed_at = utc_now()
    case.updated_at = utc_now()
    return await _save_case(db, actor, claim, case, "rj.action.done", rj_action=action_id)


async def schedule_follow_up(
    *, db: AsyncSession, actor: Principal, case_id: int, follow_up_on: date, idempotency_key: str
) -> RjCase:
    """Follow-up is scheduled after the intervention (and its agreement, if one was made), on a date not past."""
    claim, case, replay = await _case_change(
        db,
        actor,
        operation="rj.case.follow-up.schedule",
        case_id=case_id,
        idempotency_key=idempotency_key,
        request={"on": follow_up_on},
    )
    if replay:
        return case
    _require_stage(case, RjStage.INTERVENTION, RjStage.OUTCOME_AGREEMENT)
    if follow_up_on < utc_now().date():
        raise ValidationFailed("The follow-up date cannot be in the past.")
    case.follow_up_due_on = follow_up_on
    _move(case, RjStage.FOLLOW_UP)
    return await _save_case(db, actor, claim, case, "rj.case.follow-up.schedule")


async def record_follow_up(
    *, db: AsyncSession, actor: Principal, case_id: int, harmed_satisfaction: Satisfaction, idempotency_key: str
) -> RjCase:
    """The follow-up is recorded once, on or after its scheduled date, with the person harmed's satisfaction."""
    claim, case, replay = await _case_change(
        db,
        actor,
        operation="rj.case.follow-up.record",
        case_id=case_id,
        idempotency_key=idempotency_key,
        request={"s": harmed_satisfaction},
    )
    if replay:
        return case
    _require_stage(case, RjStage.FOLLOW_UP)
    if case.follow_up_at is not None:
        raise InvalidTransition("The follow-up is already recorded.")
    if case.follow_up_due_on is not None and utc_now().date() < case.follow_up_due_on:
        raise InvalidTransition("The follow-up is recorded on or after its scheduled date.")
    case.follow_up_at = utc_now()
    case.harmed_satisfaction = harmed_satisfaction.value
    case.updated_at = utc_now()
    return await _save_case(db, actor, claim, case, "rj.case.follow-up.record")


async def close_case(
    *, db: AsyncSession, actor: Principal, case_id: int, reason: ClosureReason, idempotency_key: str
) -> RjCase:
    """The co-ordinator closes a case with a reason that must be true of it; open conferences are cancelled."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    claim, case, replay = await _case_change(
        db, actor, operation="rj.case.close", case_id=case_id, idempotency_key=idempotency_key, request={"r": reason}
    )
    if replay:
        return case
    if case.stage == RjStage.CLOSED.value:
        raise InvalidTransition("The RJ case is already closed.")
    withdrawn_roles = {p.role for p in await _case_parties(db, case_id) if p.withdrawn_at is not None}
    if reason is ClosureReason.COMPLETED and (case.stage != RjStage.FOLLOW_UP.value or case.follow_up_at is None):
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
    cancelled = await _cancel_scheduled_conferences(db, case.id, "case-closed")
    case.closure_reason = reason.value
    case.closed_at = utc_now()
    _move(case, RjStage.CLOSED)
    return await _save_case(db, actor, claim, case, "rj.case.close", cancelled_conferences=cancelled)


# ---------------------------------------------------------------------------------------------------------------------
# Conferences


def _venue_key(venue: str | None) -> str | None:
    return " ".join(venue.lower().split()) if venue else None


def _interval(starts_at: datetime, duration_minutes: int) -> tuple[datetime, datetime]:
    if not MIN_CONFERENCE_MINUTES <= duration_minutes <= MAX_CONFERENCE_MINUTES:
        raise ValidationFailed(f"A conference lasts {MIN_CONFERENCE_MINUTES} to {MAX_CONFERENCE_MINUTES} minutes.")
    start = as_utc(starts_at)
    if start < utc_now():
        raise ValidationFailed("A conference cannot be booked in the past.")
    return start, start + timedelta(minutes=duration_minutes)


async def _lock_bookings(db: AsyncSession) -> None:
    connection = await db.connection()
    if connection.dialect.name == "postgresql":
        await db.exec(select(sa.func.pg_advisory_xact_lock(CONFERENCE_BOOKING_LOCK_KEY)))


def _overlapping(starts_at: datetime, ends_at: datetime, excluding: int | None) -> list[ColumnElement[bool]]:
    # Half-open intervals: one conference may end exactly when the next begins.
    clauses = [
        col(Conference.status) == ConferenceStatus.SCHEDULED.value,
        col(Conference.starts_at) < ends_at,
        col(Conference.ends_at) > starts_at,
    ]
    if excluding is not None:
        clauses.append(col(Conference.id) != excluding)
    return clauses


async def _refuse_conflicts(
    db: AsyncSession,
    *,
    starts_at: datetime,
    ends_at: datetime,
    facilitator_ids: Sequence[int],
    party_ids: Sequence[int],
    venue_key: str | None,
    excluding: int | None,
) -> None:
    """Refuse a booking that double-books a facilitator, a party or a venue, across every RJ case."""
    overlapping = _overlapping(starts_at, ends_at, excluding)
    facilitator_clash = (
        await db.exec(
            select(ConferenceFacilitator.conference_id)
            .join(Conference, col(Conference.id) == col(ConferenceFacilitator.conference_id))
            .where(col(ConferenceFacilitator.facilitator_id).in_(list(facilitator_ids)), *overlapping)
            .limit(1)
        )
    ).first()
    if facilitator_clash is not None:
        raise FacilitatorDoubleBooked()
    party_clash = (
        await db.exec(
            select(ConferenceParticipant.conference_id)
            .join(Conference, col(Conference.id) == col(ConferenceParticipant.conference_id))
            .where(col(ConferenceParticipant.party_id).in_(list(party_ids)), *overlapping)
            .limit(1)
        )
    ).first()
    if party_clash is not None:
        raise PartyDoubleBooked()
    if venue_key is not None:
        venue_clash = (
            await db.exec(select(Conference.id).where(col(Conference.venue_key) == venue_key, *overlapping).limit(1))
        ).first()
        if venue_clash is not None:
            raise VenueTaken()


async def schedule_conference(
    *, db: AsyncSession, actor: Principal, case_id: int, booking: ConferenceBooking, idempotency_key: str
) -> Conference:
    """The co-ordinator books a conference of consenting parties with accredited facilitators, free of clashes."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    claim = await _claim(db, actor, "rj.conference.schedule", idempotency_key, {"c": case_id, "b": booking})
    if claim.replayed_result_id is not None:
        return (await _load_conference(db, actor, claim.replayed_result_id))[0]
    case = await _load_case(db, actor, case_id, lock=True)
    _require_stage(case, RjStage.PREPARATION, RjStage.INTERVENTION)
    _require_cleared_assessment(case)
    starts_at, ends_at = _interval(booking.starts_at, booking.duration_minutes)
    venue = _text(booking.venue, "venue", max_length=200)
    if booking.video_call == (venue is not None):
        raise ValidationFailed("A conference has either a venue or a video call.")
    if not booking.party_ids:
        raise ValidationFailed("A conference has participants.")
    parties = {p.id: p for p in await _case_parties(db, case_id)}
    for party_id in booking.party_ids:
        party = parties.get(party_id)
        if party is None:
            raise NotFound()
        if not _consented(party):
            raise InvalidTransition("Every participant must have consented and be willing.")
    facilitator_ids = sorted(booking.facilitator_ids) or [
        f for f in (case.lead_facilitator_id, case.co_facilitator_id) if f is not None
    ]
    if not facilitator_ids:
        raise ValidationFailed("Assign a lead facilitator or name the conference's facilitators.")
    # Accredited on the day of the conference, not only today.
    await _accredited_facilitators(db, actor, facilitator_ids, max(starts_at.date(), utc_now().date()))
    await _lock_bookings(db)
    party_ids = sorted(booking.party_ids)
    await _refuse_conflicts(
        db,
        starts_at=starts_at,
        ends_at=ends_at,
        facilitator_ids=facilitator_ids,
        party_ids=party_ids,
        venue_key=_venue_key(venue),
        excluding=None,
    )
    conference = Conference(
        case_id=case_id,
        starts_at=starts_at,
        ends_at=ends_at,
        venue=venue,
        venue_key=_venue_key(venue),
        video_call=booking.video_call,
        status=ConferenceStatus.SCHEDULED.value,
    )
    db.add(conference)
    await db.flush()
    assert conference.id is not None
    for party_id in party_ids:
        db.add(ConferenceParticipant(conference_id=conference.id, party_id=party_id))
    for facilitator_id in facilitator_ids:
        db.add(ConferenceFacilitator(conference_id=conference.id, facilitator_id=facilitator_id))
    await _finish(
        db,
        actor,
        claim,
        conference.id,
        [_audit("rj.conference.schedule", rj_case=case_id, rj_conference=conference.id)],
    )
    return conference


async def _conference_change(
    db: AsyncSession, actor: Principal, operation: str, conference_id: int, key: str, request: dict[str, Any]
) -> tuple[IdempotencyClaim, Conference, RjCase, bool]:
    claim = await _claim(db, actor, operation, key, {"conf": conference_id, **request})
    conference, case = await _load_conference(db, actor, claim.replayed_result_id or conference_id)
    if claim.replayed_result_id is not None:
        return claim, conference, case, True
    if conference.status != ConferenceStatus.SCHEDULED.value:
        raise InvalidTransition(f"The conference is {conference.status}.")
    _require_stage(case, RjStage.PREPARATION, RjStage.INTERVENTION)
    return claim, conference, case, False


async def reschedule_conference(
    *,
    db: AsyncSession,
    actor: Principal,
    conference_id: int,
    starts_at: datetime,
    duration_minutes: int,
    reason: str,
    idempotency_key: str,
) -> Conference:
    """The co-ordinator moves a scheduled conference to a time free for all its facilitators, parties and venue."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    claim, conference, case, replay = await _conference_change(
        db,
        actor,
        "rj.conference.reschedule",
        conference_id,
        idempotency_key,
        {"s": starts_at, "d": duration_minutes, "r": reason},
    )
    if replay:
        return conference
    why = _text(reason, "reason", max_length=200, required=True)
    new_start, new_end = _interval(starts_at, duration_minutes)
    facilitator_ids = list(
        (
            await db.exec(
                select(ConferenceFacilitator.facilitator_id).where(
                    col(ConferenceFacilitator.conference_id) == conference_id
                )
            )
        ).all()
    )
    party_ids = list(
        (
            await db.exec(
                select(ConferenceParticipant.party_id).where(col(ConferenceParticipant.conference_id) == conference_id)
            )
        ).all()
    )
    await _accredited_facilitators(db, actor, facilitator_ids, max(new_start.date(), utc_now().date()))
    await _lock_bookings(db)
    await _refuse_conflicts(
        db,
        starts_at=new_start,
        ends_at=new_end,
        facilitator_ids=facilitator_ids,
        party_ids=party_ids,
        venue_key=conference.venue_key,
        excluding=conference_id,
    )
    conference.starts_at, conference.ends_at = new_start, new_end
    conference.status_reason = why
    conference.sequence += 1
    conference.updated_at = utc_now()
    db.add(conference)
    await _finish(
        db,
        actor,
        claim,
        conference_id,
        [_audit("rj.conference.reschedule", rj_case=case.id, rj_conference=conference_id)],
    )
    return conference


async def cancel_conference(
    *, db: AsyncSession, actor: Principal, conference_id: int, reason: str, idempotency_key: str
) -> Conference:
    """The co-ordinator cancels a scheduled conference with a reason."""
    _require_rj_hub(actor, Scope.RJ_MANAGE)
    claim = await _claim(db, actor, "rj.conference.cancel", idempotency_key, {"conf": conference_id, "r": reason})
    conference, case = await _load_conference(db, actor, claim.replayed_result_id or conference_id)
    if claim.replayed_result_id is not None:
        return conference
    if conference.status != ConferenceStatus.SCHEDULED.value:
        raise InvalidTransition(f"The conference is {conference.status}.")
    conference.status = ConferenceStatus.CANCELLED.value
    conference.status_reason = _text(reason, "reason", max_length=200, required=True)
    conference.sequence += 1
    conference.updated_at = utc_now()
    db.add(conference)
    await _finish(
        db, actor, claim, conference_id, [_audit("rj.conference.cancel", rj_case=case.id, rj_conference=conference_id)]
    )
    return conference


async def record_attendance(
    *,
    db: AsyncSession,
    actor: Principal,
    conference_id: int,
    attended_party_ids: frozenset[int],
    idempotency_key: str,
) -> Conference:
    """Once a scheduled conference has started, who attended is recorded and the conference is held."""
    _require_rj_hub(actor, Scope.RJ_MANAGE, Scope.RJ_FACILITATE)
    claim, conference, case, replay = await _conference_change(
        db, actor, "rj.conference.attendance", conference_id, idempotency_key, {"a": sorted(attended_party_ids)}
    )
    if replay:
        return conference
    if as_utc(conference.starts_at) > utc_now():
        raise InvalidTransition("Attendance is recorded once the conference has started.")
    participants = list(
        (
            await db.exec(
                select(ConferenceParticipant).where(col(ConferenceParticipant.conference_id) == conference_id)
            )
        ).all()
    )
    if not attended_party_ids <= {p.party_id for p in participants}:
        raise ValidationFailed("Only the conference's participants can be recorded as attending.")
    for participant in participants:
        participant.attended = participant.party_id in attended_party_ids
        db.add(participant)
    conference.status = ConferenceStatus.HELD.value
    conference.updated_at = utc_now()
    db.add(conference)
    await _finish(
        db,
        actor,
        claim,
        conference_id,
        [_audit("rj.conference.attendance", rj_case=case.id, rj_conference=conference_id)],
    )
    return conference


# ---------------------------------------------------------------------------------------------------------------------
# Grant monitoring


async def rj_quarterly_counts(*, db: AsyncSession, starts_at: datetime, ends_at: datetime) -> RjQuarterlyCounts:
    """Aggregate counts for [starts_at, ends_at), computed in SQL; the caller applies small-number suppression."""

    def within(column: Any) -> ColumnElement[bool]:
        return sa.and_(column >= starts_at, column < ends_at)

    def count_if(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(sa.case((condition, 1), else_=0)), 0)

    connection = await db.connection()
    case_counts = (
        await connection.execute(
            sa.select(
                count_if(within(col(RjCase.created_at))),
                count_if(sa.and_(within(col(RjCase.assessed_at)), col(RjCase.assessed_suitable).is_(True))),
                count_if(within(col(RjCase.agreement_completed_at))),
                count_if(within(col(RjCase.follow_up_at))),
                count_if(
                    sa.and_(
                        within(col(RjCase.follow_up_at)),
                        col(RjCase.harmed_satisfaction) == Satisfaction.SATISFIED.value,
                    )
                ),
            )
        )
    ).one()
    indirect = [kind.value for kind in INDIRECT_KINDS]
    intervention_counts = (
        await connection.execute(
            sa.select(
                func.count(
                    sa.distinct(
                        sa.case(
                            (col(Intervention.kind) == InterventionKind.DIRECT_CONFERENCE.value, Intervention.case_id)
                        )
                    )
                ),
                func.count(sa.distinct(sa.case((col(Intervention.kind).in_(indirect), Intervention.case_id)))),
            ).where(within(col(Intervention.delivered_at)))
        )
    ).one()
    referred, suitable, completed, follow_ups, satisfied = (int(n) for n in case_counts)
    direct, indirect_count = (int(n) for n in intervention_counts)
    return RjQuarterlyCounts(
        cases_referred=referred,
        assessed_suitable=suitable,
        direct_interventions=direct,
        indirect_interventions=indirect_count,
        agreements_completed=completed,
        follow_ups_recorded=follow_ups,
        harmed_satisfied=satisfied,
    )
