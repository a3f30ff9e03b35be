"""Who reaches which referral rows: the ownership filters every read and write puts in its SQL, and loading by them.

The Hub reaches the referrals and tasks it owns; a provider reaches only the tasks sent to it. Missing and
not-yours raise the same NotFound.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.errors import Forbidden, ValidationFailed
from gateway.kit import first_or_not_found, require_any
from gateway.organisations.models import Organisation, OrganisationRole
from gateway.referrals.models import Referral, ReferralTask, TaskStatus

PURPOSE_REFERRAL = "referral-for-support"
PURPOSE_SUPPORT = "provide-support"
PURPOSE_SAFEGUARDING = "safeguarding"
PURPOSE_INTAKE = "self-referral-intake"


def hub_tasks(actor: Principal) -> ColumnElement[bool]:
    """The tasks of the referrals the actor's Hub owns."""
    return col(ReferralTask.hub_organisation_id) == actor.organisation_id


def provider_tasks(actor: Principal) -> ColumnElement[bool]:
    """The tasks sent to the actor's organisation."""
    # A draft has not been sent: to its provider it does not exist yet.
    return sa.and_(
        col(ReferralTask.provider_organisation_id) == actor.organisation_id,
        col(ReferralTask.status) != TaskStatus.DRAFT.value,
    )


def visible_tasks(actor: Principal) -> ColumnElement[bool]:
    """The tasks the actor's organisation owns as the Hub or was sent as a provider."""
    return sa.or_(hub_tasks(actor), provider_tasks(actor))


async def load_task(db: AsyncSession, task_id: int, ownership: ColumnElement[bool]) -> ReferralTask:
    """The task with this id among those the ownership filter reaches, or NotFound."""
    return await first_or_not_found(db, select(ReferralTask).where(col(ReferralTask.id) == task_id, ownership))


async def load_own_referral(db: AsyncSession, actor: Principal, referral_id: int) -> Referral:
    """One of the actor's Hub's referrals, or NotFound."""
    return await first_or_not_found(
        db,
        select(Referral).where(
            col(Referral.id) == referral_id, col(Referral.hub_organisation_id) == actor.organisation_id
        ),
    )


async def require_referrer(db: AsyncSession, actor: Principal) -> None:
    """Refuse unless the actor's organisation is an active referrer."""
    # A provider's client mistakenly granted referrals:write must still not start referrals of its own.
    organisation = await db.get(Organisation, actor.organisation_id)
    if organisation is None or not organisation.active or OrganisationRole.REFERRER.value not in organisation.roles:
        raise Forbidden()


def reason_code(kind: type[StrEnum], value: str) -> str:
    """The value as one of the kind's codes, refused with the list of codes when it is none of them."""
    try:
        return kind(value).value
    except ValueError:
        raise ValidationFailed(f"Unknown reason code; expected one of: {', '.join(kind)}.") from None


# Read paths select plain rows of the columns they use, not ORM objects: a page of 50 tasks would otherwise
# build hundreds of instrumented instances only to read a few attributes from each.
TASKS: sa.Table = ReferralTask.__table__  # type: ignore[attr-defined]


async def rows(db: AsyncSession, statement: Any) -> Sequence[Any]:
    """Plain rows of a Core statement, for read paths that only read a few columns of each."""
    connection = await db.connection()
    return (await connection.execute(statement)).all()


async def get_task(*, db: AsyncSession, actor: Principal, task_id: int) -> ReferralTask:
    """A task is visible to the Hub that owns it and, once sent, to the provider it is addressed to."""
    require_any(actor, Scope.REFERRALS_READ, Scope.TASKS_READ)
    return await load_task(db, task_id, visible_tasks(actor))


async def get_provider_task(*, db: AsyncSession, actor: Principal, task_id: int) -> ReferralTask:
    """A task sent to the calling provider; a draft, another provider's task or a missing one is NotFound."""
    return await load_task(db, task_id, provider_tasks(actor))
