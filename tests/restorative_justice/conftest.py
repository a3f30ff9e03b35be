"""An RJ world: the demo organisations, facilitator users, principals for each RJ role, and case builders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest

from gateway.auth.models import User
from gateway.auth.principal import Principal, Role, Scope, scopes_for_roles
from gateway.clock import utc_now
from gateway.consent.models import ConsentMethod
from gateway.db import AsyncSession
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import AccreditationLevel, CaseSource, HomeAgency, PartyRole, RiskLevel
from providers.profile import CrimeCategory
from tests.support.domain import World, key

HARMED_NAME = ("Perpetua", "Ravensworth")
RESPONSIBLE_NAME = ("Barnaby", "Thistlewood")


@dataclass
class RjWorld:
    """Ids only, never rows: a rolled-back refusal expires every row the session holds."""

    rj_hub_id: int
    facilitator_a_id: int
    facilitator_b_id: int
    facilitator_expired_id: int
    user_a: int
    user_b: int

    def person(self, role: Role, user_id: int) -> Principal:
        return Principal(
            organisation_id=self.rj_hub_id,
            organisation_slug="rj-hub",
            scopes=scopes_for_roles(frozenset({role})),
            roles=frozenset({role}),
            user_id=user_id,
        )

    @property
    def coordinator_client(self) -> Principal:
        """The RJ hub's case-management system: rj:manage, but no roles, so never a case supervisor."""
        return Principal(
            organisation_id=self.rj_hub_id,
            organisation_slug="rj-hub",
            scopes=frozenset({Scope.RJ_MANAGE, Scope.TASKS_READ, Scope.TASKS_WRITE}),
            client_id="rj-hub-system",
        )

    @property
    def coordinator(self) -> Principal:
        return self.person(Role.RJ_COORDINATOR, 9001)

    @property
    def supervisor(self) -> Principal:
        return self.person(Role.RJ_COORDINATOR, 9002)

    @property
    def as_facilitator_a(self) -> Principal:
        return self.person(Role.RJ_FACILITATOR, self.user_a)

    @property
    def as_facilitator_b(self) -> Principal:
        return self.person(Role.RJ_FACILITATOR, self.user_b)


async def _facilitator(db: AsyncSession, email: str, expires_on: date, actor: Principal) -> tuple[int, int]:
    # A row, not auth.add_user: these users never sign in here, and argon2 would cost a second per test.
    user = User(
        organisation_id=actor.organisation_id, email=email, password_hash="!", roles=[Role.RJ_FACILITATOR.value]
    )
    db.add(user)
    await db.flush()
    assert user.id is not None
    facilitator = await rj.register_facilitator(
        db=db,
        actor=actor,
        user_id=user.id,
        home_agency=HomeAgency.PROBATION_SERVICE,
        accreditation_level=AccreditationLevel.ACCREDITED_PRACTITIONER,
        accreditation_expires_on=expires_on,
        idempotency_key=key(),
    )
    assert facilitator.id is not None
    return facilitator.id, user.id


@pytest.fixture
async def rjw(db: AsyncSession, world: World) -> RjWorld:
    manager = RjWorld(world.org_id("rj-hub"), 0, 0, 0, 0, 0).coordinator_client
    next_year = utc_now().date() + timedelta(days=365)
    a, user_a = await _facilitator(db, "facilitator.a@rj.example", next_year, manager)
    b, user_b = await _facilitator(db, "facilitator.b@rj.example", next_year, manager)
    expired, _ = await _facilitator(db, "facilitator.c@rj.example", utc_now().date() - timedelta(days=1), manager)
    await db.commit()
    return RjWorld(world.org_id("rj-hub"), a, b, expired, user_a, user_b)


@dataclass
class BuiltCase:
    id: int
    reference: str
    sensitive: bool
    harmed_id: int
    responsible_id: int


async def new_case(
    db: AsyncSession,
    rjw: RjWorld,
    *,
    crime: CrimeCategory = CrimeCategory.VIOLENCE,
    lead: int | None = None,
    names: tuple[tuple[str, str], tuple[str, str]] = (HARMED_NAME, RESPONSIBLE_NAME),
) -> BuiltCase:
    """A case at referral-received with a consenting person harmed and person responsible, and a lead facilitator."""
    actor = rjw.coordinator_client
    case = await rj.create_direct_case(
        db=db, actor=actor, source=CaseSource.OFFICER, crime_category=crime, idempotency_key=key()
    )
    assert case.id is not None
    parties: list[int] = []
    for role, (given, family) in zip((PartyRole.HARMED, PartyRole.RESPONSIBLE), names, strict=True):
        party = await rj.add_party(
            db=db,
            actor=actor,
            case_id=case.id,
            party=rj.PartyInput(role=role, given_name=given, family_name=family, phone="07700900123"),
            idempotency_key=key(),
        )
        assert party.id is not None
        await rj.record_party_consent(
            db=db, actor=actor, party_id=party.id, method=ConsentMethod.VERBAL, willing=True, idempotency_key=key()
        )
        parties.append(party.id)
    await rj.assign_facilitators(
        db=db,
        actor=actor,
        case_id=case.id,
        lead_facilitator_id=lead or rjw.facilitator_a_id,
        co_facilitator_id=None,
        idempotency_key=key(),
    )
    await db.commit()
    return BuiltCase(case.id, case.reference, case.sensitive, parties[0], parties[1])


async def to_assessment(db: AsyncSession, rjw: RjWorld, built: BuiltCase, *, assessor: Principal) -> None:
    await rj.record_initial_contact(
        db=db, actor=assessor, case_id=built.id, contacted_at=utc_now() - timedelta(hours=1), idempotency_key=key()
    )
    await rj.record_assessment(
        db=db, actor=assessor, case_id=built.id, suitable=True, risk_level=RiskLevel.LOW, idempotency_key=key()
    )
    await db.commit()


async def to_preparation(db: AsyncSession, rjw: RjWorld, built: BuiltCase) -> None:
    """Contacted, assessed suitable (and approved if sensitive), and both parties prepared."""
    await to_assessment(db, rjw, built, assessor=rjw.coordinator)
    if built.sensitive:
        await rj.approve_assessment(db=db, actor=rjw.supervisor, case_id=built.id, idempotency_key=key())
    for party_id in (built.harmed_id, built.responsible_id):
        await rj.record_preparation_meeting(
            db=db,
            actor=rjw.coordinator,
            case_id=built.id,
            party_id=party_id,
            held_at=utc_now() - timedelta(minutes=30),
            idempotency_key=key(),
        )
    await db.commit()


def slot(days: int, hour: int, minute: int = 0) -> datetime:
    """A time `days` from today, in UTC, always in the future."""
    day = utc_now().date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=utc_now().tzinfo)
