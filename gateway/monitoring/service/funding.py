"""What each provider is paid and promised: its share of the grants per quarter, and the targets the grants set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.db import AsyncSession
from gateway.grants.models import Grant, GrantTarget, TargetMeasure
from gateway.monitoring.periods import Quarter
from gateway.monitoring.service.queries import fetch_all

_grants: sa.Table = Grant.__table__  # type: ignore[attr-defined]


async def grant_shares(*, db: AsyncSession, quarters: Sequence[Quarter]) -> dict[tuple[int, int], float]:
    """Each provider's share of grant money per quarter: a grant is spread evenly over its quarters."""
    quarters_in_grant = (_grants.c.last_financial_year - _grants.c.first_financial_year + 1) * 4
    share = sa.cast(_grants.c.amount_pence, sa.Float) / quarters_in_grant
    columns = [
        sa.func.sum(
            sa.case(
                (
                    sa.and_(
                        _grants.c.first_financial_year <= q.financial_year,
                        _grants.c.last_financial_year >= q.financial_year,
                    ),
                    share,
                ),
                else_=0,
            )
        )
        for q in quarters
    ]
    statement = sa.select(_grants.c.provider_organisation_id, *columns).group_by(_grants.c.provider_organisation_id)
    found: dict[tuple[int, int], float] = {}
    for provider, *amounts in await fetch_all(db, statement):
        for index, amount in enumerate(amounts):
            found[(int(provider), index)] = float(amount or 0)
    return found


@dataclass(frozen=True, slots=True)
class AgreedTarget:
    """One target of a grant, for the provider and the financial years the grant covers."""

    provider: int
    grant_reference: str
    first_financial_year: int
    last_financial_year: int
    measure: TargetMeasure
    value: float


async def agreed_targets(*, db: AsyncSession, quarters: Sequence[Quarter]) -> list[AgreedTarget]:
    """The targets of every grant covering any of the quarters, by grant reference and measure."""
    rows = await db.exec(
        select(Grant, GrantTarget)
        .join(GrantTarget, col(GrantTarget.grant_id) == col(Grant.id))
        .where(
            col(Grant.first_financial_year) <= quarters[-1].financial_year,
            col(Grant.last_financial_year) >= quarters[0].financial_year,
        )
        .order_by(col(Grant.reference), col(GrantTarget.measure))
    )
    return [
        AgreedTarget(
            provider=grant.provider_organisation_id,
            grant_reference=grant.reference,
            first_financial_year=grant.first_financial_year,
            last_financial_year=grant.last_financial_year,
            measure=TargetMeasure(target.measure),
            value=target.value,
        )
        for grant, target in rows.all()
    ]
