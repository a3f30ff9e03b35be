"""Fixtures for the domain tests: the demo organisations, principals for each role, and input builders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, col, select

from gateway.auth.principal import Principal, Role, scopes_for_roles
from gateway.clock import utc_now
from gateway.consent.models import ConsentMethod
from gateway.consent.service import ConsentInput
from gateway.db import AsyncSession
from gateway.organisations.models import Organisation, OrganisationRole
from gateway.organisations.service import OrganisationSpec, demo_organisations, ensure_organisation
from gateway.referrals.models import ArrivalRoute, DomesticAbuseRisk, Referral, ReferralTask
from gateway.referrals.service import CaseInput, create_referral, send_task
from gateway.victims.models import AgeBand, ConsentGiver, Disability, Sex
from gateway.victims.service import EqualityInput, GuardianInput, SafeContactInput, VictimInput
from providers.profile import CrimeCategory, Need, VictimField

VICTIM_GIVEN_NAME = "Morwenna"
VICTIM_FAMILY_NAME = "Quillfeather"
ALL_FIELDS = frozenset(VictimField)


def key() -> str:
    return f"test-{uuid.uuid4()}"


def years_ago(years: int, *, days: int = 0) -> date:
    today = utc_now().date()
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - years, day=28)
    return born - timedelta(days=days)


def adult_victim(**changes: object) -> VictimInput:
    victim = VictimInput(
        given_name=VICTIM_GIVEN_NAME,
        family_name=VICTIM_FAMILY_NAME,
        date_of_birth=years_ago(34),
        address="1 Example Street, Cambridge",
        postcode="CB1 1AA",
        phone="07700900001",
        email="victim@example.test",
        safe_contact=SafeContactInput(
            safe_phone="07700900002",
            safe_times="Weekdays 09:00-12:00",
            voicemail_safe=False,
            letters_safe=True,
            perpetrator_shares_address=False,
        ),
        language="Polish",
        interpreter_needed=True,
        equality=EqualityInput(
            age_band=AgeBand.FROM_25_TO_34,
            sex=Sex.PREFER_NOT_TO_SAY,
            ethnicity="prefer-not-to-say",
            disability=Disability.NO,
        ),
    )
    return _replace(victim, changes)


def child_victim(age: int = 15, **changes: object) -> VictimInput:
    victim = adult_victim(
        date_of_birth=years_ago(age),
        guardian=GuardianInput(name="Parent Quillfeather", relationship="mother", phone="07700900003"),
    )
    return _replace(victim, changes)


def _replace(victim: VictimInput, changes: dict[str, object]) -> VictimInput:
    return replace(victim, **changes)  # type: ignore[arg-type]


def case_input(
    *,
    crime: CrimeCategory = CrimeCategory.VIOLENCE,
    needs: Sequence[Need] = (Need.MENTAL_HEALTH, Need.RESTORATIVE_JUSTICE_INTEREST),
    risk: DomesticAbuseRisk = DomesticAbuseRisk.NONE,
) -> CaseInput:
    return CaseInput(
        arrival_route=ArrivalRoute.OFFICER_NEEDS_ASSESSMENT,
        reported_to_police=True,
        crime_reference="CC-2026-0042",
        crime_category=crime,
        domestic_abuse_risk=risk,
        needs=frozenset(needs),
        priority_vulnerable_or_intimidated=True,
        assessment_notes="Assessment notes for the test.",
    )


def consent_for(
    *slugs: str,
    categories: frozenset[VictimField] = ALL_FIELDS,
    given_by: ConsentGiver = ConsentGiver.VICTIM,
    expires_at: datetime | None = None,
    given_at: datetime | None = None,
) -> ConsentInput:
    return ConsentInput(
        given_by=given_by,
        method=ConsentMethod.VERBAL,
        given_at=given_at or utc_now() - timedelta(minutes=10),
        provider_slugs=frozenset(slugs),
        data_categories=categories,
        statistics_consent=True,
        expires_at=expires_at,
    )


@dataclass(frozen=True)
class World:
    organisations: dict[str, Organisation]

    def org(self, slug: str) -> Organisation:
        return self.organisations[slug]

    def org_id(self, slug: str) -> int:
        organisation_id = self.organisations[slug].id
        assert organisation_id is not None
        return organisation_id

    def person(self, slug: str, role: Role, user_id: int = 1) -> Principal:
        return Principal(
            organisation_id=self.org_id(slug),
            organisation_slug=slug,
            scopes=scopes_for_roles(frozenset({role})),
            roles=frozenset({role}),
            user_id=user_id,
        )

    @property
    def coordinator(self) -> Principal:
        return self.person("hub", Role.HUB_COORDINATOR, user_id=1)

    @property
    def supervisor(self) -> Principal:
        return self.person("hub", Role.HUB_SUPERVISOR, user_id=2)

    def caseworker(self, slug: str, user_id: int = 10) -> Principal:
        return self.person(slug, Role.PROVIDER_CASEWORKER, user_id=user_id)


@pytest.fixture
async def world(db: AsyncSession) -> World:
    """Every demo organisation, plus a second referrer hub to prove one hub cannot reach another's records."""
    found: dict[str, Organisation] = {}
    for spec in [*demo_organisations(), OrganisationSpec("hub-2", "Another Hub", (OrganisationRole.REFERRER,))]:
        organisation, _ = await ensure_organisation(db=db, spec=spec)
        found[spec.slug] = organisation
    await db.commit()
    return World(found)


async def make_referral(
    db: AsyncSession,
    world: World,
    *,
    providers: Sequence[str] = ("cpn",),
    consents: Sequence[ConsentInput] | None = None,
    victim: VictimInput | None = None,
    case: CaseInput | None = None,
    actor: Principal | None = None,
) -> tuple[Referral, list[ReferralTask]]:
    referral = await create_referral(
        db=db,
        actor=actor or world.coordinator,
        victim=victim or adult_victim(),
        case=case or case_input(),
        consents=consents if consents is not None else [consent_for(*providers)],
        provider_slugs=list(providers),
        idempotency_key=key(),
    )
    tasks = (
        await db.exec(
            select(ReferralTask).where(ReferralTask.referral_id == referral.id).order_by(col(ReferralTask.id))
        )
    ).all()
    return referral, list(tasks)


async def make_sent_task(db: AsyncSession, world: World, provider: str = "cpn", **options: object) -> ReferralTask:
    _, tasks = await make_referral(db, world, providers=(provider,), **options)  # type: ignore[arg-type]
    task = tasks[0]
    assert task.id is not None
    return await send_task(
        db=db, actor=world.coordinator, task_id=task.id, expected_version=task.version, idempotency_key=key()
    )


async def count(db: AsyncSession, model: type[SQLModel]) -> int:
    return int((await db.exec(select(func.count()).select_from(model))).one())
