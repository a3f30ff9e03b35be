"""The RJ hub's facilitators: registering them, their accreditation, assigning them to cases, their calendar feeds."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import col, select

from gateway.audit.service import append_audit
from gateway.auth.models import User
from gateway.auth.principal import Principal, Role, Scope
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import AccreditationExpired, Conflict, InvalidTransition, NotFound, ValidationFailed
from gateway.idempotency.service import claim_for
from gateway.kit import bounded_text, first_or_not_found
from gateway.restorative_justice.models import (
    AccreditationLevel,
    Conference,
    ConferenceFacilitator,
    Facilitator,
    HomeAgency,
    RjCase,
    RjStage,
)
from gateway.restorative_justice.service.access import (
    CASEWORK,
    MANAGE,
    CaseStep,
    SubjectIds,
    audit_record,
    change_case,
    finish,
    load_facilitator,
    organisation_facilitators,
    own_facilitator,
    require_rj_hub,
)
from gateway.restorative_justice.service.rules import in_vocabulary

FEED_TOKEN_BYTES = 32
# A halted case may still change hands, so assigning checks only that the case is open.
ASSIGN = CaseStep("rj.case.assign", stages=None, scopes=MANAGE)


@dataclass(frozen=True, slots=True)
class IssuedFeedToken:
    facilitator: Facilitator
    token: str  # shown once; only its hash is stored


@dataclass(frozen=True, slots=True)
class FacilitatorCandidate:
    """A member of the RJ hub with the rj-facilitator role who is not yet registered as a facilitator."""

    user_id: int
    email: str


@dataclass(frozen=True, slots=True)
class FeedConference:
    conference: Conference
    case_reference: str


def _accredited_on(facilitator: Facilitator, day: date) -> bool:
    return facilitator.accreditation_expires_on >= day


async def register_facilitator(
    *,
    db: AsyncSession,
    actor: Principal,
    user_id: int,
    home_agency: HomeAgency,
    accreditation_level: AccreditationLevel,
    accreditation_expires_on: date,
    idempotency_key: str,
    display_name: str | None = None,
) -> Facilitator:
    """The co-ordinator registers a member of the RJ hub with the rj-facilitator role as a facilitator, by name.

    Without a name given, the person's sign-in e-mail address stands for it.
    """
    require_rj_hub(actor, *MANAGE)
    request = {
        "u": user_id,
        "a": home_agency,
        "l": accreditation_level,
        "e": accreditation_expires_on,
        "n": display_name,
    }
    claim = await claim_for(
        db=db, actor=actor, operation="rj.facilitator.register", key=idempotency_key, request=request
    )
    if claim.replayed_result_id is not None:
        return await load_facilitator(db, actor, claim.replayed_result_id)
    user = await first_or_not_found(
        db, select(User).where(col(User.id) == user_id, col(User.organisation_id) == actor.organisation_id)
    )
    if Role.RJ_FACILITATOR.value not in user.roles:
        raise ValidationFailed("Only a user with the rj-facilitator role can be registered as a facilitator.")
    if (await db.exec(select(Facilitator.id).where(col(Facilitator.user_id) == user_id))).first() is not None:
        raise Conflict("That user is already registered as a facilitator.")
    facilitator = Facilitator(
        organisation_id=actor.organisation_id,
        user_id=user_id,
        display_name=bounded_text(display_name, "name", max_length=120) or user.email[:120],
        home_agency=in_vocabulary(HomeAgency, home_agency, "home agency").value,
        accreditation_level=in_vocabulary(AccreditationLevel, accreditation_level, "accreditation level").value,
        accreditation_expires_on=accreditation_expires_on,
    )
    db.add(facilitator)
    await db.flush()
    assert facilitator.id is not None
    audit = audit_record("rj.facilitator.register", rj_facilitator=facilitator.id)
    await finish(db, actor, claim, facilitator.id, [audit])
    return facilitator


async def renew_accreditation(
    *,
    db: AsyncSession,
    actor: Principal,
    facilitator_id: int,
    level: AccreditationLevel,
    expires_on: date,
    idempotency_key: str,
) -> Facilitator:
    """The co-ordinator records a facilitator's renewed accreditation level and expiry."""
    require_rj_hub(actor, *MANAGE)
    request = {"f": facilitator_id, "l": level, "e": expires_on}
    claim = await claim_for(db=db, actor=actor, operation="rj.facilitator.renew", key=idempotency_key, request=request)
    facilitator = await load_facilitator(db, actor, claim.replayed_result_id or facilitator_id)
    if claim.replayed_result_id is not None:
        return facilitator
    facilitator.accreditation_level = in_vocabulary(AccreditationLevel, level, "accreditation level").value
    facilitator.accreditation_expires_on = expires_on
    db.add(facilitator)
    assert facilitator.id is not None
    await finish(
        db, actor, claim, facilitator.id, [audit_record("rj.facilitator.renew", rj_facilitator=facilitator.id)]
    )
    return facilitator


async def list_facilitators(*, db: AsyncSession, actor: Principal) -> list[Facilitator]:
    """The co-ordinator lists the RJ hub's facilitators by name."""
    require_rj_hub(actor, *MANAGE)
    query = organisation_facilitators(actor).order_by(col(Facilitator.display_name), col(Facilitator.id))
    return list((await db.exec(query)).all())


async def list_facilitator_candidates(*, db: AsyncSession, actor: Principal) -> list[FacilitatorCandidate]:
    """The co-ordinator's choice when registering: active rj-facilitator members of the hub not yet registered."""
    require_rj_hub(actor, *MANAGE)
    registered = select(Facilitator.user_id).where(col(Facilitator.organisation_id) == actor.organisation_id)
    users = await db.exec(
        select(User)
        .where(
            col(User.organisation_id) == actor.organisation_id,
            col(User.active).is_(True),
            col(User.id).not_in(registered),
        )
        .order_by(col(User.email))
    )
    # Roles are a JSON list, filtered here rather than with dialect-specific JSON operators.
    return [
        FacilitatorCandidate(user_id=u.id, email=u.email)
        for u in users.all()
        if u.id is not None and Role.RJ_FACILITATOR.value in u.roles
    ]


async def accredited_facilitators(
    db: AsyncSession, actor: Principal, facilitator_ids: Sequence[int], day: date
) -> list[Facilitator]:
    """The facilitators of the actor's organisation, each refused unless accredited on that day."""
    wanted = organisation_facilitators(actor).where(col(Facilitator.id).in_(list(facilitator_ids)))
    found = {f.id: f for f in (await db.exec(wanted)).all()}
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

    async def assign(case: RjCase) -> SubjectIds:
        if case.stage == RjStage.CLOSED.value:
            raise InvalidTransition("The RJ case is closed.")
        if co_facilitator_id == lead_facilitator_id:
            raise ValidationFailed("The lead and the co-facilitator must be different people.")
        ids = [lead_facilitator_id] + ([co_facilitator_id] if co_facilitator_id is not None else [])
        await accredited_facilitators(db, actor, ids, utc_now().date())
        case.lead_facilitator_id = lead_facilitator_id
        case.co_facilitator_id = co_facilitator_id
        case.updated_at = utc_now()
        return {"lead": lead_facilitator_id, "co": co_facilitator_id}

    request = {"l": lead_facilitator_id, "co": co_facilitator_id}
    return await change_case(db, actor, ASSIGN, case_id, idempotency_key, request, change=assign)


async def rotate_feed_token(
    *, db: AsyncSession, actor: Principal, facilitator_id: int | None = None
) -> IssuedFeedToken:
    """A new calendar-feed token replaces the old: the co-ordinator issues anyone's, a facilitator their own."""
    require_rj_hub(actor, *CASEWORK)
    if actor.has(Scope.RJ_MANAGE) and facilitator_id is not None:
        facilitator = await load_facilitator(db, actor, facilitator_id)
    else:
        facilitator = await own_facilitator(db, actor)
        if facilitator_id is not None and facilitator.id != facilitator_id:
            raise NotFound()
    token = secrets.token_urlsafe(FEED_TOKEN_BYTES)
    facilitator.feed_token_hash = feed_token_hash(token)
    facilitator.feed_token_rotated_at = utc_now()
    db.add(facilitator)
    await db.flush()
    await append_audit(db=db, actor=actor, records=[audit_record("rj.calendar.rotate", rj_facilitator=facilitator.id)])
    return IssuedFeedToken(facilitator=facilitator, token=token)


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
