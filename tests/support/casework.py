"""Fixtures for monitoring: a settable clock, and supported cases made through the real services."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.auth.principal import Principal, Role
from gateway.db import AsyncSession
from gateway.organisations.models import Organisation
from gateway.organisations.service import demo_organisations, ensure_organisation
from gateway.outcomes.models import MeasureResult
from gateway.outcomes.service import OutcomeRecordInput, complete_task_with_outcome
from gateway.referrals import service as referral_service
from gateway.referrals.models import ReferralTask
from gateway.referrals.service import accept_task, record_first_contact, send_task
from gateway.victims.service import VictimInput
from tests.support.domain import (
    World,
    adult_victim,
    consent_for,
    key,
    make_referral,
)

# A whole financial year in the past: 2025/26, quarters 2025-Q1 to 2025-Q4.
YEAR_START = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)

IMPROVED_EVERYWHERE = OutcomeRecordInput(
    informed_and_empowered=MeasureResult.IMPROVED,
    health_and_wellbeing=MeasureResult.IMPROVED,
    cope_and_recover=MeasureResult.IMPROVED,
    feeling_safer=MeasureResult.IMPROVED,
)


@dataclass
class Clock:
    """The services' idea of now, so a year of casework can happen in seconds."""

    now: datetime = field(default_factory=lambda: YEAR_START)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    # Each module of referrals.service reads the time through its own `utc_now` name: sending, accepting, first
    # contact and closing are all stamped from it, so patching that name in each moves the whole lifecycle in time.
    frozen = Clock()
    for module_info in pkgutil.iter_modules(referral_service.__path__):
        module = importlib.import_module(f"{referral_service.__name__}.{module_info.name}")
        if hasattr(module, "utc_now"):
            monkeypatch.setattr(module, "utc_now", frozen)
    return frozen


@pytest.fixture
async def world(db: AsyncSession) -> World:
    """The demo organisations: the Hub, the Commissioner's office and every provider."""
    found: dict[str, Organisation] = {}
    for spec in demo_organisations():
        found[spec.slug], _ = await ensure_organisation(db=db, spec=spec)
    await db.commit()
    return World(found)


def commissioner(world: World) -> Principal:
    """The Commissioner's analyst: reads the figures and the grants."""
    return world.person("opcc", Role.COMMISSIONER_ANALYST, user_id=90)


def grant_manager(world: World) -> Principal:
    """The Commissioner's grant manager: reads the figures, records and edits grants."""
    return world.person("opcc", Role.GRANT_MANAGER, user_id=91)


async def sent_task(
    db: AsyncSession,
    world: World,
    clock: Clock,
    *,
    provider: str,
    sent_at: datetime,
    victim: VictimInput | None = None,
    statistics_consent: bool = True,
) -> ReferralTask:
    """A referral created five minutes before `sent_at` and sent to the provider at `sent_at`."""
    clock.now = sent_at - timedelta(minutes=5)
    consent = replace(
        consent_for(provider, given_at=clock.now - timedelta(minutes=10)), statistics_consent=statistics_consent
    )
    _, [draft] = await make_referral(
        db, world, providers=(provider,), consents=[consent], victim=victim or adult_victim()
    )
    assert draft.id is not None
    clock.now = sent_at
    return await send_task(
        db=db, actor=world.coordinator, task_id=draft.id, expected_version=draft.version, idempotency_key=key()
    )


async def supported_case(
    db: AsyncSession,
    world: World,
    clock: Clock,
    *,
    provider: str = "cpn",
    sent_at: datetime,
    contact_after: timedelta,
    outcome: OutcomeRecordInput = IMPROVED_EVERYWHERE,
    victim: VictimInput | None = None,
    statistics_consent: bool = True,
) -> ReferralTask:
    """A case sent, accepted, contacted after `contact_after` and completed an hour later with `outcome`."""
    task = await sent_task(
        db, world, clock, provider=provider, sent_at=sent_at, victim=victim, statistics_consent=statistics_consent
    )
    caseworker = world.caseworker(provider)
    assert task.id is not None
    clock.now = sent_at + timedelta(minutes=5)
    task = await accept_task(
        db=db, actor=caseworker, task_id=task.id, expected_version=task.version, idempotency_key=key()
    )
    assert task.id is not None
    contacted_at = sent_at + contact_after
    clock.now = contacted_at
    task = await record_first_contact(
        db=db,
        actor=caseworker,
        task_id=task.id,
        expected_version=task.version,
        contacted_at=contacted_at,
        idempotency_key=key(),
    )
    assert task.id is not None
    clock.now = contacted_at + timedelta(hours=1)
    return await complete_task_with_outcome(
        db=db,
        actor=caseworker,
        task_id=task.id,
        expected_version=task.version,
        idempotency_key=key(),
        outcome=outcome,
    )
