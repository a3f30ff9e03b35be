"""Fictional casework for a newcomer's gateway, made through the real services so every rule and audit row holds.

Every name, address and phone number here is invented (phone numbers from Ofcom's drama range 07700 900xxx,
e-mail addresses on .invalid). Seeded once: when the Hub already has a referral, nothing is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import col, func, select

from gateway.auth.models import User
from gateway.auth.principal import Principal, Role, Scope, scopes_for_roles
from gateway.clock import utc_now
from gateway.consent.models import Consent, ConsentMethod
from gateway.consent.service import ConsentInput
from gateway.db import AsyncSession
from gateway.organisations.models import Organisation
from gateway.outcomes.models import MeasureResult
from gateway.outcomes.service import OutcomeRecordInput, complete_task_with_outcome
from gateway.referrals.models import (
    ArrivalRoute,
    ContactMethod,
    ContactResult,
    DomesticAbuseRisk,
    Referral,
    ReferralTask,
    RejectReason,
)
from gateway.referrals.service import (
    CaseInput,
    SelfReferralSubmission,
    accept_task,
    create_referral,
    record_contact_attempt,
    record_first_contact,
    reject_task,
    send_task,
    submit_self_referral,
    withdraw_consent,
)
from gateway.restorative_justice.service import create_case_from_task
from gateway.victims.models import ConsentGiver
from gateway.victims.service import GuardianInput, SafeContact, VictimInput
from providers.profile import CrimeCategory, Need, VictimField


def demo_client_id(slug: str) -> str:
    """The demo machine client of an organisation (its secret is printed by `gateway welcome`)."""
    return f"{slug}-demo"


IMPROVED = OutcomeRecordInput(
    informed_and_empowered=MeasureResult.IMPROVED,
    health_and_wellbeing=MeasureResult.IMPROVED,
    cope_and_recover=MeasureResult.NOT_IMPROVED,
    feeling_safer=MeasureResult.IMPROVED,
)


@dataclass(frozen=True)
class Story:
    """One fictional victim's journey: who, what happened, to which provider, and how far it has got."""

    given_name: str
    family_name: str
    age: int
    crime: CrimeCategory
    needs: tuple[Need, ...]
    provider: str
    progress: str  # draft, sent, accepted, attempted, contacted, completed, rejected, withdrawn, rj-case
    risk: DomesticAbuseRisk = DomesticAbuseRisk.NONE


STORIES: tuple[Story, ...] = (
    Story("Aled", "Pennywhistle", 34, CrimeCategory.VIOLENCE, (Need.MENTAL_HEALTH,), "cpn", "completed"),
    Story("Bronwen", "Catterall", 51, CrimeCategory.ROBBERY, (Need.MENTAL_HEALTH,), "cpn", "contacted"),
    Story("Cai", "Dunmore", 27, CrimeCategory.HATE_CRIME, (Need.MENTAL_HEALTH,), "cpn", "sent"),
    Story("Delyth", "Ashgrove", 45, CrimeCategory.VIOLENCE, (Need.MENTAL_HEALTH,), "cpn", "attempted"),
    Story("Emrys", "Fairbairn", 62, CrimeCategory.FRAUD, (Need.MENTAL_HEALTH,), "cpn", "withdrawn"),
    Story("Ffion", "Greatorex", 38, CrimeCategory.ROAD_COLLISION, (Need.PRACTICAL,), "road-victims-trust",
          "accepted"),
    Story("Gethin", "Holloway", 29, CrimeCategory.ROAD_COLLISION, (Need.PRACTICAL,), "road-victims-trust",
          "rejected"),
    Story("Heledd", "Ingleby", 14, CrimeCategory.VIOLENCE, (Need.YOUNG_PERSON,), "family-action", "completed"),
    Story("Iwan", "Jellicoe", 16, CrimeCategory.SEXUAL_OFFENCE, (Need.YOUNG_PERSON,), "rape-crisis", "contacted"),
    Story("Jac", "Kingsford", 41, CrimeCategory.BURGLARY, (Need.RESTORATIVE_JUSTICE_INTEREST,), "rj-hub", "rj-case"),
    Story("Lowri", "Merriman", 33, CrimeCategory.CRIMINAL_DAMAGE, (Need.RESTORATIVE_JUSTICE_INTEREST,), "rj-hub",
          "sent"),
    Story("Morgan", "Northcott", 58, CrimeCategory.VIOLENCE, (Need.MENTAL_HEALTH,), "cpn", "draft"),
)  # fmt: skip

SELF_REFERRALS: tuple[SelfReferralSubmission, ...] = (
    SelfReferralSubmission(
        given_name="Nia",
        family_name="Oakenshaw",
        consent_to_contact=True,
        phone="07700900120",
        crime_category=CrimeCategory.ANTI_SOCIAL_BEHAVIOUR,
        needs=frozenset({Need.PRACTICAL}),
        what_happened="Neighbours' harassment over several months (fictional).",
    ),
    SelfReferralSubmission(
        given_name="Owain",
        family_name="Pemberton",
        consent_to_contact=True,
        email="owain.pemberton@demo.invalid",
        safe_contact=SafeContact(safe_times="Weekday evenings", voicemail_safe=False),
        crime_category=CrimeCategory.FRAUD,
        what_happened="Lost savings to a telephone scam (fictional).",
    ),
)


async def _person(db: AsyncSession, role: Role, email: str) -> Principal:
    user = (await db.exec(select(User).where(col(User.email) == email))).one()
    organisation = await db.get(Organisation, user.organisation_id)
    assert user.id is not None and organisation is not None and organisation.id is not None
    return Principal(
        organisation_id=organisation.id,
        organisation_slug=organisation.slug,
        scopes=scopes_for_roles(frozenset({role})),
        roles=frozenset({role}),
        user_id=user.id,
    )


async def _provider_client(db: AsyncSession, slug: str) -> Principal:
    # Only cpn has demo staff; every provider has a demo machine client, which acts for its caseworkers, so the
    # audit trail names a caller that exists.
    organisation = (await db.exec(select(Organisation).where(col(Organisation.slug) == slug))).one()
    assert organisation.id is not None
    return Principal(
        organisation_id=organisation.id,
        organisation_slug=slug,
        scopes=frozenset({Scope.TASKS_READ, Scope.TASKS_WRITE, Scope.OUTCOMES_WRITE}),
        client_id=demo_client_id(slug),
    )


def _victim(story: Story, number: int, today: date) -> VictimInput:
    child = story.age < 18
    return VictimInput(
        given_name=story.given_name,
        family_name=story.family_name,
        date_of_birth=today.replace(year=today.year - story.age) - timedelta(days=30 + number),
        address=f"{number + 1} Example Row, Cambridge",
        postcode="CB1 1AA",
        phone=f"07700900{number:03d}",
        email=f"{story.given_name.lower()}@demo.invalid",
        guardian=GuardianInput(name=f"Parent {story.family_name}", relationship="parent", phone="07700900199")
        if child
        else None,
        safe_contact=SafeContact(safe_phone=f"07700900{100 + number:03d}", safe_times="Weekdays 09:00-12:00"),
    )


def _case(story: Story, number: int) -> CaseInput:
    return CaseInput(
        arrival_route=ArrivalRoute.OFFICER_NEEDS_ASSESSMENT,
        reported_to_police=True,
        crime_reference=f"CC-2026-{4100 + number}",
        crime_category=story.crime,
        domestic_abuse_risk=story.risk,
        needs=frozenset(story.needs),
        assessment_notes="Fictional demo case.",
    )


def _consent(story: Story) -> ConsentInput:
    return ConsentInput(
        given_by=ConsentGiver.GUARDIAN if story.age < 18 else ConsentGiver.VICTIM,
        method=ConsentMethod.VERBAL,
        given_at=utc_now() - timedelta(minutes=30),
        provider_slugs=frozenset({story.provider}),
        data_categories=frozenset(VictimField),
        statistics_consent=True,
    )


# How far along the ordinary path a story goes; the other endings branch off after sending or accepting.
LADDER = ("draft", "sent", "accepted", "attempted", "contacted", "completed")


async def _tell(
    db: AsyncSession,
    story: Story,
    number: int,
    coordinator: Principal,
    rj: Principal,
    caseworkers: dict[str, Principal],
) -> None:
    """Take one story as far as it goes, each step by the person whose step it is."""
    key = f"demo-{number}"
    referral = await create_referral(
        db=db,
        actor=coordinator,
        victim=_victim(story, number, utc_now().date()),
        case=_case(story, number),
        consents=[_consent(story)],
        provider_slugs=[story.provider],
        idempotency_key=f"{key}-create",
    )
    task = (await db.exec(select(ReferralTask).where(col(ReferralTask.referral_id) == referral.id))).one()
    assert task.id is not None
    task_id = task.id
    if story.progress == "draft":
        return
    task = await send_task(
        db=db, actor=coordinator, task_id=task_id, expected_version=task.version, idempotency_key=f"{key}-send"
    )
    provider = rj if story.provider == "rj-hub" else caseworkers.get(story.provider)
    if provider is None:
        provider = await _provider_client(db, story.provider)
    if story.progress == "withdrawn":
        consent_id = (await _consent_ids(db, referral))[0]
        await withdraw_consent(db=db, actor=coordinator, consent_id=consent_id, idempotency_key=f"{key}-withdraw")
    elif story.progress == "rejected":
        await reject_task(
            db=db,
            actor=provider,
            task_id=task_id,
            expected_version=task.version,
            idempotency_key=f"{key}-reject",
            reason=RejectReason.NO_CAPACITY,
        )
    elif story.progress == "rj-case":
        await accept_task(
            db=db, actor=provider, task_id=task_id, expected_version=task.version, idempotency_key=f"{key}-accept"
        )
        await create_case_from_task(db=db, actor=rj, task_id=task_id, idempotency_key=f"{key}-rj")
    else:
        await _support(db, provider, task, LADDER.index(story.progress), key)


async def _support(db: AsyncSession, provider: Principal, task: ReferralTask, reached: int, key: str) -> None:
    """The provider's ordinary path: accept, try to call, make contact, complete with an outcome."""
    assert task.id is not None
    task_id, now = task.id, utc_now()
    if reached >= LADDER.index("accepted"):
        task = await accept_task(
            db=db, actor=provider, task_id=task_id, expected_version=task.version, idempotency_key=f"{key}-accept"
        )
    if reached >= LADDER.index("attempted"):
        await record_contact_attempt(
            db=db,
            actor=provider,
            task_id=task_id,
            attempted_at=now,
            method=ContactMethod.PHONE,
            result=ContactResult.NO_ANSWER,
            idempotency_key=f"{key}-attempt",
        )
    if reached >= LADDER.index("contacted"):
        task = await record_first_contact(
            db=db,
            actor=provider,
            task_id=task_id,
            expected_version=task.version,
            contacted_at=now,
            idempotency_key=f"{key}-contact",
        )
    if reached >= LADDER.index("completed"):
        await complete_task_with_outcome(
            db=db,
            actor=provider,
            task_id=task_id,
            expected_version=task.version,
            idempotency_key=f"{key}-complete",
            outcome=IMPROVED,
        )


async def _consent_ids(db: AsyncSession, referral: Referral) -> Sequence[int]:
    found = await db.exec(
        select(Consent.id).where(col(Consent.victim_id) == referral.victim_id).order_by(col(Consent.id))
    )
    return [int(consent_id) for consent_id in found.all() if consent_id is not None]


async def seed_demo_casework(
    db: AsyncSession, *, coordinator_email: str, rj_coordinator_email: str, caseworker_email: str
) -> list[str]:
    """Fictional referrals at every step, two self-referrals waiting and an RJ case; once only."""
    if (await db.exec(select(func.count()).select_from(Referral))).one():
        return ["exists  demo casework"]
    coordinator = await _person(db, Role.HUB_COORDINATOR, coordinator_email)
    rj = await _person(db, Role.RJ_COORDINATOR, rj_coordinator_email)
    cpn = await _person(db, Role.PROVIDER_CASEWORKER, caseworker_email)
    for number, story in enumerate(STORIES):
        await _tell(db, story, number, coordinator, rj, {cpn.organisation_slug: cpn})
    for number, submission in enumerate(SELF_REFERRALS):
        await submit_self_referral(db=db, submission=submission, idempotency_key=f"demo-self-referral-{number}")
    return [f"created demo casework: {len(STORIES)} referrals, {len(SELF_REFERRALS)} self-referrals, 1 RJ case"]
