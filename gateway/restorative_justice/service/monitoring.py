"""The RJ hub's grant-monitoring counts, read by gateway.monitoring, which suppresses small numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, func

from gateway.db import AsyncSession
from gateway.restorative_justice.models import Intervention, InterventionKind, RjCase, Satisfaction

INDIRECT_KINDS = frozenset({InterventionKind.SHUTTLE_MESSAGE, InterventionKind.LETTER_OF_EXPLANATION})


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
