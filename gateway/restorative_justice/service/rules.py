"""What every step of an RJ case checks first, and what halting or closing a case does to its conferences."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import (
    CaseHalted,
    InvalidTransition,
    PartyConsentRequired,
    SupervisorApprovalRequired,
    ValidationFailed,
)
from gateway.restorative_justice.models import Conference, ConferenceStatus, Party, PartyRole, RjCase, RjStage

# RJ is arranged by people in England: a time given without a zone is a UK wall-clock time, stored as UTC.
UK = ZoneInfo("Europe/London")

# Any stage but closed: a party is added or consents at any point of an open case.
OPEN_STAGES = tuple(stage for stage in RjStage if stage is not RjStage.CLOSED)


Term = TypeVar("Term", bound=StrEnum)


def in_vocabulary(kind: type[Term], value: str, what: str) -> Term:
    """A value of a controlled vocabulary; anything else is refused without repeating it."""
    try:
        return kind(value)
    except ValueError:
        raise ValidationFailed(f"The {what} is not one of the listed values.") from None


def from_uk_time(moment: datetime) -> datetime:
    """An aware UTC moment; a time given without a zone is read as UK local time (GMT or BST on that day)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UK)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # the first or last moments a datetime can hold, shifted out of range
        raise ValidationFailed("That time is out of range.") from None


def uk_today() -> date:
    """Today's date in the UK, which is what a typed date such as a follow-up date means."""
    return utc_now().astimezone(UK).date()


def require_stage(case: RjCase, *allowed: RjStage) -> None:
    """A step needs the case open, not halted by a withdrawal, and at one of the stages it follows."""
    if case.stage == RjStage.CLOSED.value:
        raise InvalidTransition("The RJ case is closed.")
    if case.halted_at is not None:
        raise CaseHalted()
    if case.stage not in allowed:
        wanted = " or ".join(stage.value for stage in allowed)
        raise InvalidTransition(f"The RJ case is at {case.stage}; this needs it at {wanted}.")


def require_cleared_assessment(case: RjCase) -> None:
    """Past assessment only when assessed suitable and, for a sensitive case, approved by a case supervisor."""
    if case.assessed_suitable is not True:
        raise InvalidTransition("Only a case assessed as suitable can progress past assessment.")
    if case.sensitive and case.approved_at is None:
        raise SupervisorApprovalRequired()


def move(case: RjCase, stage: RjStage) -> None:
    """The case is now at this stage."""
    case.stage = stage.value
    case.updated_at = utc_now()


def consented(party: Party) -> bool:
    """A party takes part only with their own consent, willing, and not withdrawn."""
    return party.withdrawn_at is None and party.consent_given_at is not None and party.willing


def require_consent(parties: Iterable[Party], step: str, *, roles: Iterable[PartyRole] | None = None) -> None:
    """Every party given (only those in `roles`, when named) must consent; the refusal names the first one's role."""
    wanted = {role.value for role in roles} if roles is not None else None
    for party in parties:
        if (wanted is None or party.role in wanted) and not consented(party):
            raise PartyConsentRequired(party.role, step)


async def cancel_scheduled_conferences(db: AsyncSession, case_id: int, reason: str) -> list[int]:
    """A halted or closed case meets no more: its scheduled conferences are cancelled; their ids are returned."""
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
