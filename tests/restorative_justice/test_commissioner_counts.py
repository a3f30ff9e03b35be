"""The RJ hub's grant counts reach the commissioner's monitoring, suppressed like every other figure."""

from __future__ import annotations

import pytest

from gateway.auth.principal import Principal, Scope
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import ErrorCode, Forbidden
from gateway.monitoring import service as monitoring
from gateway.monitoring.periods import quarter_containing
from tests.restorative_justice.conftest import RjWorld, new_case, to_assessment


def _commissioner(organisation_id: int, *scopes: Scope) -> Principal:
    return Principal(
        organisation_id=organisation_id, organisation_slug="opcc", scopes=frozenset(scopes), client_id="opcc"
    )


async def test_rj_counts_flow_into_monitoring_with_small_numbers_suppressed(db: AsyncSession, rjw: RjWorld) -> None:
    # Given six cases referred this quarter, one of them assessed
    built = [await new_case(db, rjw) for _ in range(6)]
    await to_assessment(db, rjw, built[0], assessor=rjw.coordinator)
    await db.commit()
    period = quarter_containing(utc_now()).label

    # When the commissioner asks for this quarter
    [quarter] = await monitoring.restorative_justice_monitoring(
        db=db, actor=_commissioner(1, Scope.MONITORING_READ), first_period=period, last_period=period
    )

    # Then six referred shows, the single assessment is suppressed, and zeros show as zeros
    assert quarter.period == period
    shown = {name: (count.value, count.suppressed) for name, count in quarter.figures.items()}
    assert shown["cases_referred"] == (6, False)
    assert shown["direct_interventions"] == (0, False)
    assert shown["agreements_completed"] == (0, False)
    assert all(value is None or not 1 <= value <= 4 for value, _ in shown.values())


async def test_only_monitoring_read_reaches_the_rj_counts(db: AsyncSession, rjw: RjWorld) -> None:
    period = quarter_containing(utc_now()).label

    with pytest.raises(Forbidden) as refused:
        await monitoring.restorative_justice_monitoring(
            db=db, actor=rjw.coordinator_client, first_period=period, last_period=period
        )

    assert refused.value.code is ErrorCode.FORBIDDEN
