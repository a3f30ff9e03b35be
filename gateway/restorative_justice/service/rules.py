"""What every step of an RJ case checks first, and what halting or closing a case does to its conferences."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import CaseHalted, InvalidTransition, SupervisorApprovalRequired
from gateway.restorative_justice.models import Conference, ConferenceStatus, Party, RjCase, RjStage

# Any stage but closed: a party is added or consents at any point of an open case.
OPEN_STAGES = tuple(stage for stage in RjStage if stage is not RjStage.CLOSED)


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
