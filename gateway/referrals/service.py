"""Rules for referrals: creation, sending under consent, the task lifecycle, provider views, intake.

Every read and write filters on the actor's organisation in SQL: the Hub reaches the referrals it owns,
a provider reaches only the tasks sent to it. Missing and not-yours raise the same NotFound.
Services flush and never commit; the caller commits once, or rolls back when a DomainError is raised.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, func, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit, queue_audit
from gateway.auth.principal import Principal, Role, Scope
from gateway.consent.models import Consent
from gateway.consent.service import (
    ConsentInput,
    ConsentStanding,
    ConsentState,
    as_utc,
    consent_standing,
    new_consent,
    validate_consent_input,
)
from gateway.db import AsyncSession
from gateway.errors import (
    Conflict,
    ConsentRequired,
    Forbidden,
    InvalidTransition,
    NotEligible,
    NotFound,
    OverrideJustificationRequired,
    ValidationFailed,
)
from gateway.events.models import EventType
from gateway.events.service import record_event
from gateway.idempotency.service import IdempotencyClaim, claim_idempotency_key, remember_result
from gateway.organisations.models import Organisation, OrganisationRole, utc_now
from gateway.organisations.service import HUB
from gateway.referrals.models import (
    ALLOWED_TRANSITIONS,
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    ArrivalRoute,
    CancelReason,
    Case,
    ContactAttempt,
    ContactMethod,
    ContactResult,
    DomesticAbuseRisk,
    FailReason,
    IntakeStatus,
    Referral,
    ReferralTask,
    RejectReason,
    SelfReferral,
    TaskStatus,
)
from gateway.victims.models import Victim
from gateway.victims.service import (
    GuardianInput,
    SafeContactInput,
    VictimInput,
    age_on,
    new_victim,
    validate_victim_input,
)
from providers.profile import CrimeCategory, Need, ProviderProfile, VictimField
from providers.registry import get_profile

PURPOSE_REFERRAL = "referral-for-support"
PURPOSE_SUPPORT = "provide-support"
PURPOSE_SAFEGUARDING = "safeguarding"
PURPOSE_INTAKE = "self-referral-intake"

# The gateway's own target for a provider to accept or reject; profiles set only the first-contact target.
ACCEPT_TARGET = timedelta(hours=24)
# A safeguarding override must say why in words a reviewer can weigh, not "urgent" or "see notes".
MIN_OVERRIDE_JUSTIFICATION_CHARS = 50
MAX_PAGE_SIZE = 100
CONFIRMATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread over the phone
# The statuses in which the provider is working the case and may record contact and plans.
WORKING_STATUSES = frozenset({TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS, TaskStatus.ON_HOLD})


# ---------------------------------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class CaseInput:
    arrival_route: ArrivalRoute
    reported_to_police: bool
    crime_category: CrimeCategory
    domestic_abuse_risk: DomesticAbuseRisk
    needs: frozenset[Need]
    crime_reference: str | None = None
    priority_most_serious_crime: bool = False
    priority_persistently_targeted: bool = False
    priority_vulnerable_or_intimidated: bool = False
    assessment_notes: str | None = None


@dataclass(frozen=True, slots=True)
class SelfReferralSubmission:
    given_name: str
    family_name: str
    consent_to_contact: bool
    date_of_birth: date | None = None
    address: str | None = None
    postcode: str | None = None
    phone: str | None = None
    email: str | None = None
    safe_contact: SafeContactInput = dataclasses.field(default_factory=SafeContactInput)
    language: str | None = None
    interpreter_needed: bool = False
    reported_to_police: bool | None = None
    crime_category: CrimeCategory | None = None
    needs: frozenset[Need] = frozenset()
    what_happened: str | None = None


class IntakeCloseReason(StrEnum):
    DUPLICATE = "duplicate"
    UNABLE_TO_CONTACT = "unable-to-contact"
    SUPPORT_DECLINED = "support-declined"
    REFERRED_ELSEWHERE = "referred-elsewhere"
    NOT_IN_AREA = "not-in-area"


class OverdueReason(StrEnum):
    ACCEPT = "accept-overdue"
    FIRST_CONTACT = "first-contact-overdue"


# ---------------------------------------------------------------------------------------------------------------------
# Outputs that are not rows


@dataclass(frozen=True, slots=True)
class SafeContactView:
    safe_phone: str | None
    safe_times: str | None
    voicemail_safe: bool
    letters_safe: bool
    perpetrator_shares_address: bool


@dataclass(frozen=True, slots=True)
class GuardianView:
    name: str | None
    relationship: str | None
    phone: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class EqualityView:
    age_band: str | None
    sex: str | None
    ethnicity: str | None
    disability: str | None


@dataclass(frozen=True, slots=True)
class PriorityFlagsView:
    most_serious_crime: bool
    persistently_targeted: bool
    vulnerable_or_intimidated: bool


@dataclass(frozen=True, slots=True)
class ProviderVictimView:
    """What one provider may see of the victim on one task: its profile's fields, or nothing with the reason."""

    task_id: int
    redacted: bool
    redaction_reason: str | None
    fields: frozenset[VictimField]
    field_names: tuple[str, ...] = ()  # the same, as sorted names, for the GraphQL type to show as they are
    shared_under_safeguarding_override: bool = False
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    age: int | None = None
    address: str | None = None
    postcode: str | None = None
    phone: str | None = None
    email: str | None = None
    safe_contact: SafeContactView | None = None
    guardian: GuardianView | None = None
    language: str | None = None
    interpreter_needed: bool | None = None
    equality: EqualityView | None = None
    crime_category: str | None = None
    crime_reference: str | None = None
    domestic_abuse_risk: str | None = None
    priority_flags: PriorityFlagsView | None = None
    needs: tuple[str, ...] | None = None
    assessment_notes: str | None = None


@dataclass(frozen=True, slots=True)
class TaskConsentSummary:
    """What a provider is told about the consent behind a task: its standing and terms, no free text."""

    task_id: int
    state: str  # valid | withdrawn | expired | none | safeguarding-override
    consent_id: int | None = None
    given_by: str | None = None
    method: str | None = None
    given_at: datetime | None = None
    expires_at: datetime | None = None
    data_categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OverdueTask:
    task: ReferralTask
    reasons: tuple[OverdueReason, ...]


# ---------------------------------------------------------------------------------------------------------------------
# Who may reach what


def _reason_code(kind: type[StrEnum], value: str) -> str:
    try:
        return kind(value).value
    except ValueError:
        raise ValidationFailed(f"Unknown reason code; expected one of: {', '.join(kind)}.") from None


def _require(actor: Principal, scope: Scope) -> None:
    if not actor.has(scope):
        raise Forbidden()


def _require_any(actor: Principal, *scopes: Scope) -> None:
    if not any(actor.has(scope) for scope in scopes):
        raise Forbidden()


async def _require_referrer(db: AsyncSession, actor: Principal) -> None:
    # A provider's client mistakenly granted referrals:write must still not start referrals of its own.
    organisation = await db.get(Organisation, actor.organisation_id)
    if organisation is None or not organisation.active or OrganisationRole.REFERRER.value not in organisation.roles:
        raise Forbidden()


def _hub_tasks(actor: Principal) -> ColumnElement[bool]:
    return col(ReferralTask.hub_organisation_id) == actor.organisation_id


def _provider_tasks(actor: Principal) -> ColumnElement[bool]:
    # A draft has not been sent: to its provider it does not exist yet.
    return sa.and_(
        col(ReferralTask.provider_organisation_id) == actor.organisation_id,
        col(ReferralTask.status) != TaskStatus.DRAFT.value,
    )


def _visible_tasks(actor: Principal) -> ColumnElement[bool]:
    return sa.or_(_hub_tasks(actor), _provider_tasks(actor))


async def _load_task(db: AsyncSession, task_id: int, ownership: ColumnElement[bool]) -> ReferralTask:
    task = (await db.exec(select(ReferralTask).where(col(ReferralTask.id) == task_id, ownership))).first()
    if task is None:
        raise NotFound()
    return task


async def _load_own_referral(db: AsyncSession, actor: Principal, referral_id: int) -> Referral:
    referral = (
        await db.exec(
            select(Referral).where(
                col(Referral.id) == referral_id, col(Referral.hub_organisation_id) == actor.organisation_id
            )
        )
    ).first()
    if referral is None:
        raise NotFound()
    return referral


async def _claim(
    db: AsyncSession, actor: Principal, operation: str, key: str, request: dict[str, Any]
) -> IdempotencyClaim:
    return await claim_idempotency_key(
        db=db, organisation_id=actor.organisation_id, operation=operation, key=key, request=request
    )


# ---------------------------------------------------------------------------------------------------------------------
# Eligibility


def _age_range_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"aged {low} to {high}"
    if low is not None:
        return f"aged {low} and over"
    return f"aged up to {high}"


def eligibility_problems(
    profile: ProviderProfile, *, age: int | None, crime_category: str, needs: Sequence[str]
) -> list[str]:
    """Each eligibility rule of the provider the case does not meet, named by the rule, never by the case's data."""
    rules = profile.eligibility
    problems: list[str] = []
    if rules.min_age is not None or rules.max_age is not None:
        in_range = age is not None and (
            (rules.min_age is None or age >= rules.min_age) and (rules.max_age is None or age <= rules.max_age)
        )
        if not in_range:
            suffix = "" if age is not None else " (the date of birth is needed to check)"
            problems.append(f"takes only victims {_age_range_text(rules.min_age, rules.max_age)}{suffix}")
    if rules.crime_categories and crime_category not in rules.crime_categories:
        problems.append(f"takes only crime categories: {', '.join(sorted(rules.crime_categories))}")
    if rules.any_of_needs and not rules.any_of_needs.intersection(needs):
        problems.append(f"needs one of these assessed needs: {', '.join(sorted(rules.any_of_needs))}")
    return problems


def _check_eligibility(profile: ProviderProfile, *, victim: Victim, case: Case, today: date) -> None:
    problems = eligibility_problems(
        profile, age=age_on(victim.date_of_birth, today), crime_category=case.crime_category, needs=case.needs
    )
    if problems:
        raise NotEligible(f"Not eligible for {profile.slug}: {'; '.join(problems)}.")


async def _provider_target(db: AsyncSession, slug: str) -> tuple[Organisation, ProviderProfile]:
    profile = get_profile(slug)
    organisation = (await db.exec(select(Organisation).where(col(Organisation.slug) == slug))).first()
    if (
        profile is None
        or organisation is None
        or not organisation.active
        or OrganisationRole.PROVIDER.value not in organisation.roles
    ):
        raise ValidationFailed(f"There is no active provider {slug!r}.")
    return organisation, profile


# ---------------------------------------------------------------------------------------------------------------------
# Creating referrals and tasks


def validate_case_input(case: CaseInput) -> None:
    """Raise ValidationFailed naming the first inconsistency in the case."""
    if case.crime_reference is not None and not case.reported_to_police:
        raise ValidationFailed("A crime reference needs the crime to have been reported to police.")
    if case.crime_reference is not None and not case.crime_reference.strip():
        raise ValidationFailed("A crime reference, when given, must not be blank.")
    if case.crime_category is CrimeCategory.DOMESTIC_ABUSE and case.domestic_abuse_risk is DomesticAbuseRisk.NONE:
        raise ValidationFailed("A domestic-abuse case needs a risk level: standard, medium or high.")


def _new_case(case: CaseInput, *, victim: Victim) -> Case:
    assert victim.id is not None
    return Case(
        hub_organisation_id=victim.hub_organisation_id,
        victim_id=victim.id,
        arrival_route=case.arrival_route.value,
        reported_to_police=case.reported_to_police,
        crime_reference=case.crime_reference,
        crime_category=case.crime_category.value,
        domestic_abuse_risk=case.domestic_abuse_risk.value,
        priority_most_serious_crime=case.priority_most_serious_crime,
        priority_persistently_targeted=case.priority_persistently_targeted,
        priority_vulnerable_or_intimidated=case.priority_vulnerable_or_intimidated,
        needs=sorted(need.value for need in case.needs),
        assessment_notes=case.assessment_notes,
    )


async def _task_reference(db: AsyncSession, referral: Referral, slug: str) -> str:
    earlier = (
        await db.exec(
            select(func.count())
            .select_from(ReferralTask)
            .where(col(ReferralTask.referral_id) == referral.id, col(ReferralTask.provider_slug) == slug)
        )
    ).one()
    suffix = "" if earlier == 0 else f"-{earlier + 1}"
    return f"{referral.reference}-{slug.upper()}{suffix}"


async def _new_draft_task(
    db: AsyncSession,
    *,
    referral: Referral,
    case: Case,
    victim: Victim,
    slug: str,
    replaces_task_id: int | None = None,
) -> ReferralTask:
    organisation, profile = await _provider_target(db, slug)
    _check_eligibility(profile, victim=victim, case=case, today=utc_now().date())
    unfinished = (
        await db.exec(
            select(ReferralTask.id).where(
                col(ReferralTask.referral_id) == referral.id,
                col(ReferralTask.provider_slug) == slug,
                col(ReferralTask.status).not_in([s.value for s in TERMINAL_STATUSES]),
            )
        )
    ).first()
    if unfinished is not None:
        raise ValidationFailed(f"This referral already has an unfinished task for {slug}.")
    assert referral.id is not None and organisation.id is not None and case.id is not None and victim.id is not None
    task = ReferralTask(
        reference=await _task_reference(db, referral, slug),
        referral_id=referral.id,
        hub_organisation_id=referral.hub_organisation_id,
        provider_organisation_id=organisation.id,
        provider_slug=slug,
        victim_id=victim.id,
        case_id=case.id,
        status=TaskStatus.DRAFT.value,
        replaces_task_id=replaces_task_id,
    )
    db.add(task)
    await db.flush()
    return task


async def _create_referral_rows(
    db: AsyncSession,
    *,
    actor: Principal,
    victim: Victim,
    case: CaseInput,
    consents: Sequence[ConsentInput],
    provider_slugs: Sequence[str],
) -> tuple[Referral, Case, list[Consent], list[ReferralTask]]:
    db.add(victim)
    await db.flush()
    case_row = _new_case(case, victim=victim)
    db.add(case_row)
    consent_rows = [new_consent(consent, victim=victim, actor=actor) for consent in consents]
    db.add_all(consent_rows)
    assert victim.id is not None
    await db.flush()
    assert case_row.id is not None
    # The number comes from the row id, known only after insert; a unique placeholder holds the slot until then.
    referral = Referral(
        reference=f"pending-{uuid.uuid4().hex}",
        hub_organisation_id=actor.organisation_id,
        case_id=case_row.id,
        victim_id=victim.id,
        created_by=actor.actor_label,
    )
    db.add(referral)
    await db.flush()
    referral.reference = f"REF-{referral.created_at.year}-{referral.id:06d}"
    await db.flush()
    tasks = [
        await _new_draft_task(db, referral=referral, case=case_row, victim=victim, slug=slug) for slug in provider_slugs
    ]
    return referral, case_row, consent_rows, tasks


async def create_referral(
    *,
    db: AsyncSession,
    actor: Principal,
    victim: VictimInput,
    case: CaseInput,
    consents: Sequence[ConsentInput],
    provider_slugs: Sequence[str],
    idempotency_key: str,
) -> Referral:
    """The Hub records a victim, their case and consents, and a draft task per eligible provider; nothing is sent."""
    _require(actor, Scope.REFERRALS_WRITE)
    await _require_referrer(db, actor)
    claim = await _claim(
        db,
        actor,
        "referral.create",
        idempotency_key,
        {"victim": victim, "case": case, "consents": list(consents), "providers": list(provider_slugs)},
    )
    if claim.replayed_result_id is not None:
        return await _load_own_referral(db, actor, claim.replayed_result_id)
    now = utc_now()
    validate_victim_input(victim, today=now.date())
    validate_case_input(case)
    for consent in consents:
        validate_consent_input(consent, victim_has_guardian=victim.guardian is not None, now=now)
    if len(set(provider_slugs)) != len(provider_slugs):
        raise ValidationFailed("Each provider can appear only once in a referral.")
    victim_row = new_victim(victim, hub_organisation_id=actor.organisation_id)
    referral, case_row, consent_rows, tasks = await _create_referral_rows(
        db, actor=actor, victim=victim_row, case=case, consents=consents, provider_slugs=provider_slugs
    )
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.COLLECTION,
                action="referral.create",
                purpose=PURPOSE_REFERRAL,
                victim_id=victim_row.id,
                subject_ids={
                    "victim": victim_row.id,
                    "case": case_row.id,
                    "referral": referral.id,
                    "consents": [c.id for c in consent_rows],
                    "tasks": [t.id for t in tasks],
                },
            )
        ],
    )
    assert referral.id is not None
    await remember_result(db=db, claim=claim, result_id=referral.id)
    return referral


async def add_task_to_referral(
    *, db: AsyncSession, actor: Principal, referral_id: int, provider_slug: str, idempotency_key: str
) -> ReferralTask:
    """The Hub adds a draft task for an eligible provider to its own referral, one unfinished task per provider."""
    _require(actor, Scope.REFERRALS_WRITE)
    claim = await _claim(
        db, actor, "task.add", idempotency_key, {"referral_id": referral_id, "provider_slug": provider_slug}
    )
    if claim.replayed_result_id is not None:
        return await _load_task(db, claim.replayed_result_id, _hub_tasks(actor))
    referral = await _load_own_referral(db, actor, referral_id)
    return await _finish_new_task(db, actor, claim, referral=referral, slug=provider_slug, replaces_task_id=None)


async def create_follow_up_task(
    *, db: AsyncSession, actor: Principal, task_id: int, provider_slug: str, idempotency_key: str
) -> ReferralTask:
    """Re-routing or reopening never revives a finished task: it makes a new draft linked to the old one."""
    _require(actor, Scope.REFERRALS_WRITE)
    claim = await _claim(
        db, actor, "task.follow-up", idempotency_key, {"task_id": task_id, "provider_slug": provider_slug}
    )
    if claim.replayed_result_id is not None:
        return await _load_task(db, claim.replayed_result_id, _hub_tasks(actor))
    old = await _load_task(db, task_id, _hub_tasks(actor))
    if old.status not in TERMINAL_STATUSES or old.status == TaskStatus.ENTERED_IN_ERROR:
        raise InvalidTransition("Only a rejected, cancelled, completed or failed task can be followed up.")
    referral = await _load_own_referral(db, actor, old.referral_id)
    return await _finish_new_task(db, actor, claim, referral=referral, slug=provider_slug, replaces_task_id=old.id)


async def _finish_new_task(
    db: AsyncSession,
    actor: Principal,
    claim: IdempotencyClaim,
    *,
    referral: Referral,
    slug: str,
    replaces_task_id: int | None,
) -> ReferralTask:
    case = await db.get(Case, referral.case_id)
    victim = await db.get(Victim, referral.victim_id)
    assert case is not None and victim is not None
    task = await _new_draft_task(
        db, referral=referral, case=case, victim=victim, slug=slug, replaces_task_id=replaces_task_id
    )
    assert task.id is not None
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.ALTERATION,
                action="task.add",
                purpose=PURPOSE_REFERRAL,
                victim_id=task.victim_id,
                subject_ids={"referral": referral.id, "task": task.id, "replaces_task": replaces_task_id},
            )
        ],
    )
    await remember_result(db=db, claim=claim, result_id=task.id)
    return task


# ---------------------------------------------------------------------------------------------------------------------
# Sending: the disclosure to the provider


async def _locked_consents(db: AsyncSession, victim_id: int) -> list[Consent]:
    # FOR UPDATE makes a concurrent withdrawal either finish first (and be seen here) or wait for this send
    # to commit (and then cancel the task it sent). SQLite has one writer at a time and ignores the clause.
    rows = await db.exec(
        select(Consent)
        .where(col(Consent.victim_id) == victim_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


def _consent_refusal(standing: ConsentStanding) -> ConsentRequired:
    messages = {
        ConsentState.WITHDRAWN: "Consent covering this provider was withdrawn.",
        ConsentState.EXPIRED: "Consent covering this provider has expired.",
    }
    return ConsentRequired(messages.get(standing.state, "There is no consent covering this provider."))


async def send_task(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    idempotency_key: str,
    safeguarding_justification: str | None = None,
) -> ReferralTask:
    """A draft goes to its provider only with valid consent covering it, or a justified safeguarding override."""
    _require(actor, Scope.REFERRALS_WRITE)
    overriding = safeguarding_justification is not None
    if overriding:
        _require(actor, Scope.CONSENT_OVERRIDE)
    claim = await _claim(
        db,
        actor,
        "task.send",
        idempotency_key,
        {"task_id": task_id, "expected_version": expected_version, "justification": safeguarding_justification},
    )
    if claim.replayed_result_id is not None:
        return await _load_task(db, claim.replayed_result_id, _hub_tasks(actor))
    task = await _load_task(db, task_id, _hub_tasks(actor))
    _check_can_move(task, expected_version, TaskStatus.REQUESTED)
    victim = await db.get(Victim, task.victim_id)
    case = await db.get(Case, task.case_id)
    profile = get_profile(task.provider_slug)
    assert victim is not None and case is not None and profile is not None
    now = utc_now()
    _check_eligibility(profile, victim=victim, case=case, today=now.date())

    standing = consent_standing(await _locked_consents(db, task.victim_id), provider_slug=task.provider_slug, now=now)
    values: dict[str, Any] = {
        "requested_at": now,
        "accept_due_at": now + ACCEPT_TARGET,
        "first_contact_due_at": now + timedelta(hours=profile.first_contact_target_hours),
    }
    if overriding:
        assert safeguarding_justification is not None
        if standing.state is ConsentState.VALID:
            raise ValidationFailed("Consent covers this provider; a safeguarding override is not needed.")
        if len(" ".join(safeguarding_justification.split())) < MIN_OVERRIDE_JUSTIFICATION_CHARS:
            raise OverrideJustificationRequired(
                f"A safeguarding override needs a written justification of at least "
                f"{MIN_OVERRIDE_JUSTIFICATION_CHARS} characters."
            )
        values |= {
            "safeguarding_override": True,
            "override_justification": safeguarding_justification.strip(),
            "override_by": actor.actor_label,
        }
    elif standing.state is not ConsentState.VALID or standing.consent is None:
        raise _consent_refusal(standing)
    else:
        values["consent_id"] = standing.consent.id

    await _apply_transition(db, task, expected_version, TaskStatus.REQUESTED, None, values, _hub_tasks(actor))
    await _after_change(
        db,
        actor,
        claim,
        task,
        event=EventType.TASK_REQUESTED,
        notify=task.provider_organisation_id,
        audit=AuditRecord(
            category=AuditCategory.DISCLOSURE,
            action="task.send",
            purpose=PURPOSE_SAFEGUARDING if overriding else PURPOSE_REFERRAL,
            victim_id=task.victim_id,
            subject_ids={"victim": task.victim_id, "task": task.id, "consent": values.get("consent_id")},
            recipient_organisation_id=task.provider_organisation_id,
            safeguarding_override=overriding,
        ),
    )
    return task


# ---------------------------------------------------------------------------------------------------------------------
# The lifecycle


def _check_can_move(task: ReferralTask, expected_version: int, target: TaskStatus) -> None:
    if task.version != expected_version:
        raise Conflict()
    current = TaskStatus(task.status)
    allowed = (
        current is not TaskStatus.ENTERED_IN_ERROR
        if target is TaskStatus.ENTERED_IN_ERROR
        else target in ALLOWED_TRANSITIONS[current]
    )
    if not allowed:
        raise InvalidTransition(f"A task cannot go from {current.value} to {target.value}.")


async def _apply_update(
    db: AsyncSession,
    task: ReferralTask,
    expected_version: int,
    values: dict[str, Any],
    ownership: ColumnElement[bool],
) -> None:
    """UPDATE ... WHERE id = :id AND version = :seen: of two racing writers exactly one changes the row."""
    result = await db.exec(
        sa.update(ReferralTask)
        .where(col(ReferralTask.id) == task.id, col(ReferralTask.version) == expected_version, ownership)
        .values(**values, version=expected_version + 1, updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict()
    await db.refresh(task)


async def _apply_transition(
    db: AsyncSession,
    task: ReferralTask,
    expected_version: int,
    target: TaskStatus,
    reason: str | None,
    values: dict[str, Any],
    ownership: ColumnElement[bool],
) -> None:
    now = utc_now()
    stamps: dict[str, Any] = {}
    if target is TaskStatus.ACCEPTED:
        stamps["accepted_at"] = now
    if target in TERMINAL_STATUSES:
        stamps["closed_at"] = now
    await _apply_update(
        db, task, expected_version, {"status": target.value, "status_reason": reason, **stamps, **values}, ownership
    )


async def _after_change(
    db: AsyncSession,
    actor: Principal,
    claim: IdempotencyClaim,
    task: ReferralTask,
    *,
    audit: AuditRecord,
    event: EventType | None = None,
    notify: int | None = None,
) -> None:
    assert task.id is not None
    if event is not None and notify is not None:
        await record_event(
            db=db,
            event_type=event,
            organisation_id=notify,
            subject_ids={"task": task.id, "referral": task.referral_id, "status": task.status},
        )
    await append_audit(db=db, actor=actor, records=[audit])
    await remember_result(db=db, claim=claim, result_id=task.id)


def _task_audit(task: ReferralTask, action: str, purpose: str) -> AuditRecord:
    return AuditRecord(
        category=AuditCategory.ALTERATION,
        action=action,
        purpose=purpose,
        victim_id=task.victim_id,
        subject_ids={"task": task.id, "referral": task.referral_id},
        safeguarding_override=task.safeguarding_override,
    )


async def _provider_transition(
    *,
    db: AsyncSession,
    actor: Principal,
    operation: str,
    task_id: int,
    expected_version: int,
    idempotency_key: str,
    target: TaskStatus,
    reason: str | None = None,
    event: EventType | None = None,
    check: Callable[[AsyncSession, ReferralTask], Awaitable[None]] | None = None,
    only_from: TaskStatus | None = None,
) -> ReferralTask:
    _require(actor, Scope.TASKS_WRITE)
    claim = await _claim(
        db, actor, operation, idempotency_key, {"task_id": task_id, "expected_version": expected_version, "r": reason}
    )
    ownership = _provider_tasks(actor)
    if claim.replayed_result_id is not None:
        return await _load_task(db, claim.replayed_result_id, ownership)
    task = await _load_task(db, task_id, ownership)
    _check_can_move(task, expected_version, target)
    if only_from is not None and task.status != only_from.value:
        raise InvalidTransition(f"Only a {only_from.value} task can be moved this way.")
    if check is not None:
        await check(db, task)
    await _apply_transition(db, task, expected_version, target, reason, {}, ownership)
    await _after_change(
        db,
        actor,
        claim,
        task,
        event=event,
        notify=task.hub_organisation_id,
        audit=_task_audit(task, operation, PURPOSE_SUPPORT),
    )
    return task


async def accept_task(
    *, db: AsyncSession, actor: Principal, task_id: int, expected_version: int, idempotency_key: str
) -> ReferralTask:
    """Only the addressed provider accepts a requested task, and only from the version it saw."""
    return await _provider_transition(
        db=db,
        actor=actor,
        operation="task.accept",
        task_id=task_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        target=TaskStatus.ACCEPTED,
        event=EventType.TASK_ACCEPTED,
    )


async def reject_task(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    reason: RejectReason,
    idempotency_key: str,
) -> ReferralTask:
    """The addressed provider rejects a requested task with one of the reject reason codes."""
    return await _provider_transition(
        db=db,
        actor=actor,
        operation="task.reject",
        task_id=task_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        target=TaskStatus.REJECTED,
        reason=_reason_code(RejectReason, reason),
        event=EventType.TASK_REJECTED,
    )


async def hold_task(
    *, db: AsyncSession, actor: Principal, task_id: int, expected_version: int, idempotency_key: str
) -> ReferralTask:
    """The provider puts accepted or in-progress work on hold."""
    return await _provider_transition(
        db=db,
        actor=actor,
        operation="task.hold",
        task_id=task_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        target=TaskStatus.ON_HOLD,
    )


async def resume_task(
    *, db: AsyncSession, actor: Principal, task_id: int, expected_version: int, idempotency_key: str
) -> ReferralTask:
    """The provider resumes work on hold; it is then in progress (accepted work starts with first contact)."""
    return await _provider_transition(
        db=db,
        actor=actor,
        operation="task.resume",
        task_id=task_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        target=TaskStatus.IN_PROGRESS,
        only_from=TaskStatus.ON_HOLD,
    )


async def require_outcome_for_completion(*, db: AsyncSession, task: ReferralTask) -> None:
    """Completion requires the task's outcome record (gateway.outcomes writes it first, in the same transaction)."""
    # Local imports keep this edit inside the rule; move them to the top freely (outcomes.models has no cycle).
    from gateway.errors import OutcomeRequired
    from gateway.outcomes.models import OutcomeRecord

    recorded = (await db.exec(select(OutcomeRecord.id).where(col(OutcomeRecord.task_id) == task.id))).first()
    if recorded is None:
        raise OutcomeRequired()


async def complete_task(
    *, db: AsyncSession, actor: Principal, task_id: int, expected_version: int, idempotency_key: str
) -> ReferralTask:
    """The provider completes accepted or in-progress work, once the outcome requirement is met."""
    return await _provider_transition(
        db=db,
        actor=actor,
        operation="task.complete",
        task_id=task_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        target=TaskStatus.COMPLETED,
        event=EventType.TASK_COMPLETED,
        check=lambda db, task: require_outcome_for_completion(db=db, task=task),
    )


async def fail_task(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    reason: FailReason,
    idempotency_key: str,
) -> ReferralTask:
    """The provider closes work it could not do, with a fail reason code."""
    return await _provider_transition(
        db=db,
        actor=actor,
        operation="task.fail",
        task_id=task_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        target=TaskStatus.FAILED,
        reason=_reason_code(FailReason, reason),
        event=EventType.TASK_FAILED,
    )


async def cancel_task(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    reason: CancelReason,
    idempotency_key: str,
) -> ReferralTask:
    """The Hub cancels its sent task with a reason; consent-withdrawn comes only from withdrawing consent."""
    _require(actor, Scope.REFERRALS_WRITE)
    reason = CancelReason(_reason_code(CancelReason, reason))
    if reason is CancelReason.CONSENT_WITHDRAWN:
        raise ValidationFailed("Withdraw the consent instead: that cancels every task it covered.")
    claim = await _claim(
        db,
        actor,
        "task.cancel",
        idempotency_key,
        {"task_id": task_id, "expected_version": expected_version, "reason": reason.value},
    )
    if claim.replayed_result_id is not None:
        return await _load_task(db, claim.replayed_result_id, _hub_tasks(actor))
    task = await _load_task(db, task_id, _hub_tasks(actor))
    _check_can_move(task, expected_version, TaskStatus.CANCELLED)
    await _apply_transition(db, task, expected_version, TaskStatus.CANCELLED, reason.value, {}, _hub_tasks(actor))
    await _after_change(
        db,
        actor,
        claim,
        task,
        event=EventType.TASK_CANCELLED,
        notify=task.provider_organisation_id,
        audit=_task_audit(task, "task.cancel", PURPOSE_REFERRAL),
    )
    return task


async def mark_task_entered_in_error(
    *, db: AsyncSession, actor: Principal, task_id: int, expected_version: int, idempotency_key: str
) -> ReferralTask:
    """Only a Hub supervisor marks a task entered-in-error, from any state; a sent task's provider is told."""
    _require(actor, Scope.REFERRALS_WRITE)
    if Role.HUB_SUPERVISOR not in actor.roles:
        raise Forbidden()
    claim = await _claim(
        db, actor, "task.entered-in-error", idempotency_key, {"task_id": task_id, "expected_version": expected_version}
    )
    if claim.replayed_result_id is not None:
        return await _load_task(db, claim.replayed_result_id, _hub_tasks(actor))
    task = await _load_task(db, task_id, _hub_tasks(actor))
    was_sent = task.status != TaskStatus.DRAFT.value
    _check_can_move(task, expected_version, TaskStatus.ENTERED_IN_ERROR)
    await _apply_transition(db, task, expected_version, TaskStatus.ENTERED_IN_ERROR, None, {}, _hub_tasks(actor))
    await _after_change(
        db,
        actor,
        claim,
        task,
        event=EventType.TASK_ENTERED_IN_ERROR if was_sent else None,
        notify=task.provider_organisation_id,
        audit=_task_audit(task, "task.entered-in-error", PURPOSE_REFERRAL),
    )
    return task


# ---------------------------------------------------------------------------------------------------------------------
# Sub-status: what the provider has done within a state


def _check_not_future(moment: datetime, what: str) -> datetime:
    moment = as_utc(moment)
    if moment > utc_now() + timedelta(minutes=5):
        raise ValidationFailed(f"The {what} cannot be in the future.")
    return moment


async def _provider_sub_status(
    *,
    db: AsyncSession,
    actor: Principal,
    operation: str,
    task_id: int,
    expected_version: int,
    idempotency_key: str,
    request: dict[str, Any],
    compute: Callable[[ReferralTask], dict[str, Any]],
) -> ReferralTask:
    _require(actor, Scope.TASKS_WRITE)
    claim = await _claim(
        db, actor, operation, idempotency_key, {"task_id": task_id, "expected_version": expected_version, **request}
    )
    ownership = _provider_tasks(actor)
    if claim.replayed_result_id is not None:
        return await _load_task(db, claim.replayed_result_id, ownership)
    task = await _load_task(db, task_id, ownership)
    if task.version != expected_version:
        raise Conflict()
    if task.status not in WORKING_STATUSES:
        raise InvalidTransition(f"This cannot be recorded on a {task.status} task.")
    values: dict[str, Any] = compute(task)
    await _apply_update(db, task, expected_version, values, ownership)
    await _after_change(db, actor, claim, task, audit=_task_audit(task, operation, PURPOSE_SUPPORT))
    return task


async def record_first_contact(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    contacted_at: datetime,
    idempotency_key: str,
) -> ReferralTask:
    """The provider records first contact once; accepted work is then in progress."""
    _require(actor, Scope.TASKS_WRITE)  # deny before looking at the input
    contacted_at = _check_not_future(contacted_at, "first contact")

    def compute(task: ReferralTask) -> dict[str, Any]:
        if task.first_contact_at is not None:
            raise InvalidTransition("First contact is already recorded.")
        if task.requested_at is not None and contacted_at < as_utc(task.requested_at):
            raise ValidationFailed("First contact cannot be before the task was sent.")
        values: dict[str, Any] = {"first_contact_at": contacted_at}
        if task.status == TaskStatus.ACCEPTED.value:
            values["status"] = TaskStatus.IN_PROGRESS.value
        return values

    return await _provider_sub_status(
        db=db,
        actor=actor,
        operation="task.first-contact",
        task_id=task_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        request={"contacted_at": contacted_at},
        compute=compute,
    )


async def schedule_appointment(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    appointment_at: datetime,
    idempotency_key: str,
) -> ReferralTask:
    """The provider records the next appointment on work it holds."""
    appointment_at = as_utc(appointment_at)
    return await _provider_sub_status(
        db=db,
        actor=actor,
        operation="task.appointment",
        task_id=task_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        request={"appointment_at": appointment_at},
        compute=lambda task: {"appointment_at": appointment_at},
    )


async def set_task_waitlisted(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    waitlisted: bool,
    idempotency_key: str,
) -> ReferralTask:
    """The provider marks work it holds as waiting for capacity, or no longer waiting."""
    return await _provider_sub_status(
        db=db,
        actor=actor,
        operation="task.waitlist",
        task_id=task_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        request={"waitlisted": waitlisted},
        compute=lambda task: {"waitlisted": waitlisted},
    )


async def mark_task_viewed(*, db: AsyncSession, actor: Principal, task_id: int) -> ReferralTask:
    """The provider's first look at a sent task is stamped once; it does not change the version."""
    _require(actor, Scope.TASKS_READ)
    task = await _load_task(db, task_id, _provider_tasks(actor))
    if task.viewed_at is None:
        # Setting a timestamp only when empty is naturally idempotent, so no key and no version are needed.
        await db.exec(
            sa.update(ReferralTask)
            .where(col(ReferralTask.id) == task.id, col(ReferralTask.viewed_at).is_(None))
            .values(viewed_at=utc_now())
            .execution_options(synchronize_session=False)
        )
        await db.refresh(task)
    return task


async def record_contact_attempt(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    attempted_at: datetime,
    method: ContactMethod,
    result: ContactResult,
    idempotency_key: str,
) -> ContactAttempt:
    """The provider logs each try at reaching the victim (time, method, result) on work it holds."""
    _require(actor, Scope.TASKS_WRITE)
    attempted_at = _check_not_future(attempted_at, "contact attempt")
    method, result = ContactMethod(method), ContactResult(result)
    claim = await _claim(
        db,
        actor,
        "task.contact-attempt",
        idempotency_key,
        {"task_id": task_id, "attempted_at": attempted_at, "method": method.value, "result": result.value},
    )
    if claim.replayed_result_id is not None:
        return await _load_contact_attempt(db, actor, claim.replayed_result_id)
    task = await _load_task(db, task_id, _provider_tasks(actor))
    if task.status not in WORKING_STATUSES:
        raise InvalidTransition(f"Contact attempts cannot be recorded on a {task.status} task.")
    assert task.id is not None
    attempt = ContactAttempt(
        task_id=task.id,
        attempted_at=attempted_at,
        method=method.value,
        result=result.value,
        recorded_by=actor.actor_label,
    )
    db.add(attempt)
    await db.flush()
    assert attempt.id is not None
    audit = _task_audit(task, "task.contact-attempt", PURPOSE_SUPPORT)
    await append_audit(
        db=db,
        actor=actor,
        records=[dataclasses.replace(audit, subject_ids={**audit.subject_ids, "attempt": attempt.id})],
    )
    await remember_result(db=db, claim=claim, result_id=attempt.id)
    return attempt


async def _load_contact_attempt(db: AsyncSession, actor: Principal, attempt_id: int) -> ContactAttempt:
    attempt = (
        await db.exec(
            select(ContactAttempt)
            .join(ReferralTask, col(ReferralTask.id) == col(ContactAttempt.task_id))
            .where(col(ContactAttempt.id) == attempt_id, _visible_tasks(actor))
        )
    ).first()
    if attempt is None:
        raise NotFound()
    return attempt


# ---------------------------------------------------------------------------------------------------------------------
# Reads and batch loaders (the GraphQL dataloaders call these: one query per relation, never one per item)


async def get_task(*, db: AsyncSession, actor: Principal, task_id: int) -> ReferralTask:
    """A task is visible to the Hub that owns it and, once sent, to the provider it is addressed to."""
    _require_any(actor, Scope.REFERRALS_READ, Scope.TASKS_READ)
    return await _load_task(db, task_id, _visible_tasks(actor))


def _overdue_clause(now: datetime) -> ColumnElement[bool]:
    return sa.or_(
        sa.and_(col(ReferralTask.status) == TaskStatus.REQUESTED.value, col(ReferralTask.accept_due_at) < now),
        sa.and_(
            col(ReferralTask.status).in_([s.value for s in OPEN_STATUSES]),
            col(ReferralTask.first_contact_at).is_(None),
            col(ReferralTask.first_contact_due_at) < now,
        ),
    )


def overdue_reasons(task: ReferralTask, *, now: datetime | None = None) -> tuple[OverdueReason, ...]:
    """Which time limits an open task has missed: accepting it, and first contact against the provider's target."""
    now = as_utc(now or utc_now())
    reasons: list[OverdueReason] = []
    if task.status == TaskStatus.REQUESTED.value and task.accept_due_at and as_utc(task.accept_due_at) < now:
        reasons.append(OverdueReason.ACCEPT)
    if (
        task.status in OPEN_STATUSES
        and task.first_contact_at is None
        and task.first_contact_due_at
        and as_utc(task.first_contact_due_at) < now
    ):
        reasons.append(OverdueReason.FIRST_CONTACT)
    return tuple(reasons)


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"A page holds 1 to {MAX_PAGE_SIZE} items.")
    return limit


async def list_inbox(
    *,
    db: AsyncSession,
    actor: Principal,
    statuses: Sequence[TaskStatus] | None = None,
    overdue_only: bool = False,
    after_id: int | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[Any]:
    """A provider's sent tasks, oldest first after the cursor, optionally by status and overdue, in one query.

    Plain rows with a ReferralTask's attributes, not ORM objects: the inbox only reads them.
    """
    _require(actor, Scope.TASKS_READ)
    query = sa.select(_TASKS).where(_provider_tasks(actor))
    if statuses:
        query = query.where(_TASKS.c.status.in_([TaskStatus(s).value for s in statuses]))
    if overdue_only:
        query = query.where(_overdue_clause(as_utc(now or utc_now())))
    if after_id is not None:
        query = query.where(_TASKS.c.id > after_id)
    return list(await _rows(db, query.order_by(_TASKS.c.id).limit(_page_size(limit))))


async def list_overdue_tasks(
    *,
    db: AsyncSession,
    actor: Principal,
    now: datetime | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[OverdueTask]:
    """Overdue open tasks the actor's organisation can see: the Hub across its referrals, a provider its own."""
    _require_any(actor, Scope.REFERRALS_READ, Scope.TASKS_READ)
    now = as_utc(now or utc_now())
    query = select(ReferralTask).where(_visible_tasks(actor), _overdue_clause(now))
    if after_id is not None:
        query = query.where(col(ReferralTask.id) > after_id)
    rows = await db.exec(query.order_by(col(ReferralTask.id)).limit(_page_size(limit)))
    return [OverdueTask(task, overdue_reasons(task, now=now)) for task in rows.all()]


async def get_referral(*, db: AsyncSession, actor: Principal, referral_id: int) -> Referral:
    """The Hub reads a referral it owns."""
    _require(actor, Scope.REFERRALS_READ)
    return await _load_own_referral(db, actor, referral_id)


async def list_referrals(
    *, db: AsyncSession, actor: Principal, after_id: int | None = None, limit: int = 50
) -> list[Referral]:
    """The Hub's own referrals, oldest first after the cursor, in one query."""
    _require(actor, Scope.REFERRALS_READ)
    query = select(Referral).where(col(Referral.hub_organisation_id) == actor.organisation_id)
    if after_id is not None:
        query = query.where(col(Referral.id) > after_id)
    rows = await db.exec(query.order_by(col(Referral.id)).limit(_page_size(limit)))
    return list(rows.all())


async def load_tasks_for_referrals(
    *, db: AsyncSession, actor: Principal, referral_ids: Sequence[int]
) -> dict[int, list[ReferralTask]]:
    """Each owned referral's tasks, in one query."""
    _require(actor, Scope.REFERRALS_READ)
    found: dict[int, list[ReferralTask]] = {referral_id: [] for referral_id in referral_ids}
    if referral_ids:
        rows = await db.exec(
            select(ReferralTask)
            .where(col(ReferralTask.referral_id).in_(set(referral_ids)), _hub_tasks(actor))
            .order_by(col(ReferralTask.id))
        )
        for task in rows.all():
            found[task.referral_id].append(task)
    return found


async def load_cases_for_referrals(
    *, db: AsyncSession, actor: Principal, referral_ids: Sequence[int]
) -> dict[int, Case]:
    """Each owned referral's case (personal data: audited as a consultation), in one query."""
    _require(actor, Scope.REFERRALS_READ)
    if not referral_ids:
        return {}
    rows = (
        await db.exec(
            select(Referral.id, Case)
            .join(Case, col(Case.id) == col(Referral.case_id))
            .where(col(Referral.id).in_(set(referral_ids)), col(Referral.hub_organisation_id) == actor.organisation_id)
        )
    ).all()
    found = {int(referral_id): case for referral_id, case in rows if referral_id is not None}
    queue_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.CONSULTATION,
                action="case.read",
                purpose=PURPOSE_REFERRAL,
                victim_id=case.victim_id,
                subject_ids={"referral": referral_id, "case": case.id},
            )
            for referral_id, case in sorted(found.items())
        ],
    )
    return found


async def load_contact_attempts_for_tasks(
    *, db: AsyncSession, actor: Principal, task_ids: Sequence[int]
) -> dict[int, list[Any]]:
    """Contact attempts on tasks the actor can see, oldest first, in one query: rows of id, task_id, attempted_at,
    method and result."""
    _require_any(actor, Scope.REFERRALS_READ, Scope.TASKS_READ)
    found: dict[int, list[Any]] = {task_id: [] for task_id in task_ids}
    if task_ids:
        attempts = _ATTEMPTS.c
        statement = (
            sa.select(attempts.id, attempts.task_id, attempts.attempted_at, attempts.method, attempts.result)
            .join(ReferralTask, col(ReferralTask.id) == attempts.task_id)
            .where(attempts.task_id.in_(set(task_ids)), _visible_tasks(actor))
            .order_by(attempts.attempted_at, attempts.id)
        )
        for attempt in await _rows(db, statement):
            found[attempt.task_id].append(ContactAttemptRecord._make(attempt))
    return found


class ContactAttemptRecord(NamedTuple):
    """One contact attempt as the inbox shows it.

    A plain tuple rather than the database row: GraphQL execution asks every list item whether it is awaitable,
    and a missing attribute on a SQLAlchemy row costs a Python-level lookup and an exception each time.
    """

    id: int
    task_id: int
    attempted_at: datetime
    method: str
    result: str


# The read paths below select plain rows of the columns they use, not ORM objects: a page of 50 tasks would
# otherwise build hundreds of instrumented instances only to read a few attributes from each.
_TASKS: sa.Table = ReferralTask.__table__  # type: ignore[attr-defined]
_CONSENTS: sa.Table = Consent.__table__  # type: ignore[attr-defined]
_VICTIMS: sa.Table = Victim.__table__  # type: ignore[attr-defined]
_CASES: sa.Table = Case.__table__  # type: ignore[attr-defined]
_ATTEMPTS: sa.Table = ContactAttempt.__table__  # type: ignore[attr-defined]
_TASK_STANDING_COLUMNS = (
    _TASKS.c.id,
    _TASKS.c.victim_id,
    _TASKS.c.case_id,
    _TASKS.c.provider_slug,
    _TASKS.c.status,
    _TASKS.c.safeguarding_override,
    _TASKS.c.requested_at,
)
_CONSENT_TERMS_COLUMNS = tuple(
    _CONSENTS.c[name]
    for name in (
        "id",
        "victim_id",
        "provider_slugs",
        "data_categories",
        "given_by",
        "method",
        "given_at",
        "recorded_at",
        "expires_at",
        "withdrawn_at",
    )
)


async def _rows(db: AsyncSession, statement: Any) -> Sequence[Any]:
    connection = await db.connection()
    return (await connection.execute(statement)).all()


async def _visible_tasks_by_id(db: AsyncSession, actor: Principal, task_ids: Sequence[int]) -> dict[int, Any]:
    rows = await _rows(
        db, sa.select(*_TASK_STANDING_COLUMNS).where(col(ReferralTask.id).in_(set(task_ids)), _provider_tasks(actor))
    )
    return {row.id: row for row in rows}


async def _consents_by_victim(db: AsyncSession, victim_ids: set[int]) -> dict[int, list[Any]]:
    """The consent terms recorded for each victim, as rows (consent_standing reads only these columns)."""
    found: dict[int, list[Any]] = defaultdict(list)
    if victim_ids:
        statement = sa.select(*_CONSENT_TERMS_COLUMNS).where(col(Consent.victim_id).in_(victim_ids))
        for consent in await _rows(db, statement):
            found[consent.victim_id].append(consent)
    return found


@dataclass(frozen=True, slots=True)
class TaskConsentContext:
    """What the standing of consent on one of a provider's tasks is worked out from, read in this request."""

    task: Any  # a row of _TASK_STANDING_COLUMNS
    consents: tuple[Any, ...]  # rows of _CONSENT_TERMS_COLUMNS: every consent recorded for the task's victim


async def load_consent_contexts_for_tasks(
    *, db: AsyncSession, actor: Principal, task_ids: Sequence[int]
) -> dict[int, TaskConsentContext]:
    """For the provider's own tasks among task_ids (authorised in the WHERE clause), the task and the consent
    rows of its victim, in two queries. A request showing both the victim and the consent of a page of tasks
    reads these once and works out both from them."""
    _require(actor, Scope.TASKS_READ)
    if not task_ids:
        return {}
    tasks = await _visible_tasks_by_id(db, actor, task_ids)
    consents = await _consents_by_victim(db, {t.victim_id for t in tasks.values()})
    return {task_id: TaskConsentContext(task, tuple(consents[task.victim_id])) for task_id, task in tasks.items()}


async def load_consent_summaries_for_tasks(
    *,
    db: AsyncSession,
    actor: Principal,
    task_ids: Sequence[int],
    contexts: dict[int, TaskConsentContext] | None = None,
) -> dict[int, TaskConsentSummary]:
    """For a provider's own sent tasks, the standing and terms of the consent now.

    `contexts` are what load_consent_contexts_for_tasks returned for these tasks in this request, when the
    caller already has them; without them they are read here.
    """
    _require(actor, Scope.TASKS_READ)
    if not task_ids:
        return {}
    if contexts is None:
        contexts = await load_consent_contexts_for_tasks(db=db, actor=actor, task_ids=task_ids)
    now = utc_now()
    found: dict[int, TaskConsentSummary] = {}
    for task_id in task_ids:
        context = contexts.get(task_id)
        if context is None:
            continue  # not this provider's task
        task = context.task
        standing = consent_standing(context.consents, provider_slug=task.provider_slug, now=now)
        consent = standing.consent
        if consent is not None:
            found[task_id] = TaskConsentSummary(
                task_id=task_id,
                state=standing.state.value,
                consent_id=consent.id,
                given_by=consent.given_by,
                method=consent.method,
                given_at=consent.given_at,
                expires_at=consent.expires_at,
                data_categories=tuple(consent.data_categories),
            )
        elif task.safeguarding_override and not _withdrawn_since_sent(standing, task):
            found[task_id] = TaskConsentSummary(task_id=task_id, state="safeguarding-override")
        else:
            found[task_id] = TaskConsentSummary(task_id=task_id, state=standing.state.value)
    return found


def _withdrawn_since_sent(standing: ConsentStanding, task: ReferralTask) -> bool:
    return (
        standing.latest_withdrawal_at is not None
        and task.requested_at is not None
        and standing.latest_withdrawal_at >= as_utc(task.requested_at)
    )


def _redacted(task_id: int, reason: str) -> ProviderVictimView:
    return ProviderVictimView(task_id=task_id, redacted=True, redaction_reason=reason, fields=frozenset())


def _guardian_view(victim: Any) -> GuardianView | None:
    if victim.guardian_name is None:
        return None
    return GuardianView(
        name=victim.guardian_name,
        relationship=victim.guardian_relationship,
        phone=victim.guardian_phone,
        email=victim.guardian_email,
    )


_V = _VICTIMS.c
_C = _CASES.c


@dataclass(frozen=True, slots=True)
class _FieldSource:
    """The columns one allowed field reads, and how they fill the view."""

    columns: tuple[sa.Column[Any], ...]
    values: Callable[[Any, date], dict[str, Any]]


# How each field a profile may allow is read and fills the view. A field absent from `allowed` is never selected
# from the database at all: the SQL fetches only what the provider may see.
_FIELD_SOURCES: dict[VictimField, _FieldSource] = {
    VictimField.NAME: _FieldSource(
        (_V.given_name, _V.family_name), lambda r, today: {"given_name": r.given_name, "family_name": r.family_name}
    ),
    VictimField.DATE_OF_BIRTH: _FieldSource((_V.date_of_birth,), lambda r, today: {"date_of_birth": r.date_of_birth}),
    VictimField.AGE: _FieldSource((_V.date_of_birth,), lambda r, today: {"age": age_on(r.date_of_birth, today)}),
    VictimField.ADDRESS: _FieldSource(
        (_V.address, _V.postcode), lambda r, today: {"address": r.address, "postcode": r.postcode}
    ),
    VictimField.PHONE: _FieldSource((_V.phone,), lambda r, today: {"phone": r.phone}),
    VictimField.EMAIL: _FieldSource((_V.email,), lambda r, today: {"email": r.email}),
    VictimField.SAFE_CONTACT: _FieldSource(
        (_V.safe_phone, _V.safe_times, _V.voicemail_safe, _V.letters_safe, _V.perpetrator_shares_address),
        lambda r, today: {
            "safe_contact": SafeContactView(
                safe_phone=r.safe_phone,
                safe_times=r.safe_times,
                voicemail_safe=r.voicemail_safe,
                letters_safe=r.letters_safe,
                perpetrator_shares_address=r.perpetrator_shares_address,
            )
        },
    ),
    VictimField.GUARDIAN: _FieldSource(
        (_V.guardian_name, _V.guardian_relationship, _V.guardian_phone, _V.guardian_email),
        lambda r, today: {"guardian": _guardian_view(r)},
    ),
    VictimField.LANGUAGE: _FieldSource(
        (_V.language, _V.interpreter_needed),
        lambda r, today: {"language": r.language, "interpreter_needed": r.interpreter_needed},
    ),
    VictimField.EQUALITY_MONITORING: _FieldSource(
        (_V.equality_age_band, _V.equality_sex, _V.equality_ethnicity, _V.equality_disability),
        lambda r, today: {
            "equality": EqualityView(
                age_band=r.equality_age_band,
                sex=r.equality_sex,
                ethnicity=r.equality_ethnicity,
                disability=r.equality_disability,
            )
        },
    ),
    VictimField.CRIME_CATEGORY: _FieldSource(
        (_C.crime_category,), lambda r, today: {"crime_category": r.crime_category}
    ),
    VictimField.CRIME_REFERENCE: _FieldSource(
        (_C.crime_reference,), lambda r, today: {"crime_reference": r.crime_reference}
    ),
    VictimField.DOMESTIC_ABUSE_RISK: _FieldSource(
        (_C.domestic_abuse_risk,), lambda r, today: {"domestic_abuse_risk": r.domestic_abuse_risk}
    ),
    VictimField.PRIORITY_FLAGS: _FieldSource(
        (_C.priority_most_serious_crime, _C.priority_persistently_targeted, _C.priority_vulnerable_or_intimidated),
        lambda r, today: {
            "priority_flags": PriorityFlagsView(
                most_serious_crime=r.priority_most_serious_crime,
                persistently_targeted=r.priority_persistently_targeted,
                vulnerable_or_intimidated=r.priority_vulnerable_or_intimidated,
            )
        },
    ),
    VictimField.NEEDS: _FieldSource((_C.needs,), lambda r, today: {"needs": tuple(r.needs)}),
    VictimField.ASSESSMENT_NOTES: _FieldSource(
        (_C.assessment_notes,), lambda r, today: {"assessment_notes": r.assessment_notes}
    ),
}


# The ProviderVictimView attributes each field fills: a query that selects none of a field's attributes does
# not have that field read from the database at all.
VIEW_ATTRIBUTES: dict[VictimField, tuple[str, ...]] = {
    VictimField.NAME: ("given_name", "family_name"),
    VictimField.DATE_OF_BIRTH: ("date_of_birth",),
    VictimField.AGE: ("age",),
    VictimField.ADDRESS: ("address", "postcode"),
    VictimField.PHONE: ("phone",),
    VictimField.EMAIL: ("email",),
    VictimField.SAFE_CONTACT: ("safe_contact",),
    VictimField.GUARDIAN: ("guardian",),
    VictimField.LANGUAGE: ("language", "interpreter_needed"),
    VictimField.EQUALITY_MONITORING: ("equality",),
    VictimField.CRIME_CATEGORY: ("crime_category",),
    VictimField.CRIME_REFERENCE: ("crime_reference",),
    VictimField.DOMESTIC_ABUSE_RISK: ("domestic_abuse_risk",),
    VictimField.PRIORITY_FLAGS: ("priority_flags",),
    VictimField.NEEDS: ("needs",),
    VictimField.ASSESSMENT_NOTES: ("assessment_notes",),
}
# Attributes that say what the view is rather than hold the victim's data.
VIEW_STANDING_ATTRIBUTES = frozenset(
    {"task_id", "redacted", "redaction_reason", "fields", "field_names", "shared_under_safeguarding_override"}
)
_FIELD_OF_ATTRIBUTE = {name: field for field, names in VIEW_ATTRIBUTES.items() for name in names}


def victim_fields_for_attributes(attributes: Iterable[str]) -> frozenset[VictimField] | None:
    """The fields that fill these view attributes; None (read every allowed field) for any name it cannot place."""
    fields: set[VictimField] = set()
    for name in attributes:
        if name in VIEW_STANDING_ATTRIBUTES:
            continue
        victim_field = _FIELD_OF_ATTRIBUTE.get(name)
        if victim_field is None:
            return None
        fields.add(victim_field)
    return frozenset(fields)


def _project(
    task_id: int,
    row: Any,
    allowed: frozenset[VictimField],
    *,
    override: bool,
    today: date,
    wanted: frozenset[VictimField] | None,
) -> ProviderVictimView:
    """Only the allowed fields that were asked for are filled in; every other field stays None."""
    values: dict[str, Any] = {}
    for victim_field in allowed if wanted is None else allowed & wanted:
        values |= _FIELD_SOURCES[victim_field].values(row, today)
    return ProviderVictimView(
        task_id=task_id,
        redacted=False,
        redaction_reason=None,
        fields=allowed,
        field_names=tuple(sorted(f.value for f in allowed)),
        shared_under_safeguarding_override=override,
        **values,
    )


@functools.lru_cache(maxsize=256)
def _covered_fields(data_categories: tuple[str, ...]) -> frozenset[VictimField]:
    # Consents cover a few distinct sets of categories; a page of 50 views would otherwise build ~800 enum members.
    return frozenset(VictimField(category) for category in data_categories)


def _victim_columns(slugs: set[str], wanted: frozenset[VictimField] | None) -> list[sa.Column[Any]]:
    """The victim and case columns of the wanted fields the providers' profiles could ever show, each once."""
    columns: dict[str, sa.Column[Any]] = {}
    for slug in sorted(slugs):
        profile = get_profile(slug)
        assert profile is not None
        for victim_field in sorted(profile.victim_fields if wanted is None else profile.victim_fields & wanted):
            columns |= {column.name: column for column in _FIELD_SOURCES[victim_field].columns}
    return list(columns.values())


async def load_victim_views_for_tasks(
    *,
    db: AsyncSession,
    actor: Principal,
    task_ids: Sequence[int],
    contexts: dict[int, TaskConsentContext] | None = None,
    wanted: frozenset[VictimField] | None = None,
) -> dict[int, ProviderVictimView]:
    """A provider sees only its profile's fields that consent covers, redacted with the reason once consent goes.

    Standing is worked out on every call from the consent rows, so a withdrawal shows on the very next read.
    Each unredacted view is logged as a disclosure to the provider, in this transaction (queued: the rows join the
    audit chain at the next append or at commit). The provider's own tasks and their consent rows come from
    `contexts` (load_consent_contexts_for_tasks, read here when not given); then one query reads only the victim
    and case columns its profile allows, joined to those tasks (authorised again in its WHERE clause). `wanted`
    narrows that to the fields a query selected (victim_fields_for_attributes); None reads every allowed field.
    """
    _require(actor, Scope.TASKS_READ)
    if not task_ids:
        return {}
    if contexts is None:
        contexts = await load_consent_contexts_for_tasks(db=db, actor=actor, task_ids=task_ids)
    tasks = {task_id: contexts[task_id] for task_id in task_ids if task_id in contexts}
    if not tasks:
        return {}
    columns = _victim_columns({c.task.provider_slug for c in tasks.values()}, wanted)
    details = {
        row.task_id: row
        for row in await _rows(
            db,
            sa.select(_TASKS.c.id.label("task_id"), *columns)
            .select_from(_TASKS)
            .join(_VICTIMS, _V.id == _TASKS.c.victim_id)
            .join(_CASES, _C.id == _TASKS.c.case_id)
            .where(_TASKS.c.id.in_(set(tasks)), _provider_tasks(actor)),
        )
    }
    now = utc_now()
    views: dict[int, ProviderVictimView] = {}
    disclosures: list[AuditRecord] = []
    for task_id, context in sorted(tasks.items()):
        task = context.task
        if task_id not in details:
            continue  # no longer this provider's task when the victim was read
        profile = get_profile(task.provider_slug)
        assert profile is not None
        if task.status == TaskStatus.ENTERED_IN_ERROR.value:
            views[task_id] = _redacted(task_id, TaskStatus.ENTERED_IN_ERROR.value)
            continue
        standing = consent_standing(context.consents, provider_slug=task.provider_slug, now=now)
        if standing.state is ConsentState.VALID and standing.consent is not None:
            allowed = profile.victim_fields & _covered_fields(tuple(standing.consent.data_categories))
            override = False
        elif task.safeguarding_override and not _withdrawn_since_sent(standing, task):
            # Sharing without consent was justified for safeguarding; the profile still limits what goes.
            allowed, override = profile.victim_fields, True
        else:
            reason = {ConsentState.WITHDRAWN: "consent-withdrawn", ConsentState.EXPIRED: "consent-expired"}
            views[task_id] = _redacted(task_id, reason.get(standing.state, "no-consent"))
            continue
        views[task_id] = _project(
            task_id, details[task_id], frozenset(allowed), override=override, today=now.date(), wanted=wanted
        )
        disclosures.append(
            AuditRecord(
                category=AuditCategory.DISCLOSURE,
                action="victim.view",
                purpose=PURPOSE_SAFEGUARDING if override else PURPOSE_SUPPORT,
                victim_id=task.victim_id,
                subject_ids={"victim": task.victim_id, "task": task_id},
                recipient_organisation_id=actor.organisation_id,
                safeguarding_override=override,
            )
        )
    queue_audit(db=db, actor=actor, records=disclosures)
    return views


async def get_victim_view_for_task(*, db: AsyncSession, actor: Principal, task_id: int) -> ProviderVictimView:
    """The provider's view of the victim on one of its sent tasks."""
    views = await load_victim_views_for_tasks(db=db, actor=actor, task_ids=[task_id])
    if task_id not in views:
        raise NotFound()
    return views[task_id]


# ---------------------------------------------------------------------------------------------------------------------
# Self-referral: the public form and the Hub's triage


def _confirmation_reference() -> str:
    return "SR-" + "".join(secrets.choice(CONFIRMATION_ALPHABET) for _ in range(10))


async def _hub_organisation(db: AsyncSession) -> Organisation:
    hub = (await db.exec(select(Organisation).where(col(Organisation.slug) == HUB.slug))).first()
    if hub is None or hub.id is None:
        raise ValidationFailed("Self-referral is not available.")
    return hub


async def submit_self_referral(*, db: AsyncSession, submission: SelfReferralSubmission, idempotency_key: str) -> str:
    """Anyone may ask for support; it waits in the Hub's queue, and the answer is only a confirmation reference."""
    hub = await _hub_organisation(db)
    assert hub.id is not None
    claim = await claim_idempotency_key(
        db=db, organisation_id=hub.id, operation="self-referral.submit", key=idempotency_key, request={"s": submission}
    )
    if claim.replayed_result_id is not None:
        existing = await db.get(SelfReferral, claim.replayed_result_id)
        assert existing is not None
        return existing.confirmation_reference
    if not submission.consent_to_contact:
        raise ValidationFailed("We can only take a self-referral with agreement to be contacted.")
    if not submission.given_name.strip() or not submission.family_name.strip():
        raise ValidationFailed("A name is required.")
    if not any((submission.phone, submission.email, submission.address, submission.safe_contact.safe_phone)):
        raise ValidationFailed("At least one way to contact you is required.")
    safe = submission.safe_contact
    item = SelfReferral(
        confirmation_reference=_confirmation_reference(),
        hub_organisation_id=hub.id,
        status=IntakeStatus.NEW.value,
        given_name=submission.given_name.strip(),
        family_name=submission.family_name.strip(),
        date_of_birth=submission.date_of_birth,
        address=submission.address,
        postcode=submission.postcode,
        phone=submission.phone,
        email=submission.email,
        safe_phone=safe.safe_phone,
        safe_times=safe.safe_times,
        voicemail_safe=safe.voicemail_safe,
        letters_safe=safe.letters_safe,
        perpetrator_shares_address=safe.perpetrator_shares_address,
        language=submission.language,
        interpreter_needed=submission.interpreter_needed,
        consent_to_contact=True,
        reported_to_police=submission.reported_to_police,
        crime_category=submission.crime_category.value if submission.crime_category else None,
        needs=sorted(n.value for n in submission.needs),
        what_happened=submission.what_happened,
    )
    db.add(item)
    await db.flush()
    assert item.id is not None
    await append_audit(
        db=db,
        actor=None,
        records=[
            AuditRecord(
                category=AuditCategory.COLLECTION,
                action="self-referral.submit",
                purpose=PURPOSE_INTAKE,
                subject_ids={"self_referral": item.id},
            )
        ],
    )
    await remember_result(db=db, claim=claim, result_id=item.id)
    return item.confirmation_reference


async def list_intake_queue(
    *, db: AsyncSession, actor: Principal, after_id: int | None = None, limit: int = 50
) -> list[SelfReferral]:
    """The Hub's untriaged self-referrals, oldest first, each read logged as a consultation."""
    _require(actor, Scope.REFERRALS_READ)
    query = select(SelfReferral).where(
        col(SelfReferral.hub_organisation_id) == actor.organisation_id,
        col(SelfReferral.status) == IntakeStatus.NEW.value,
    )
    if after_id is not None:
        query = query.where(col(SelfReferral.id) > after_id)
    items = list((await db.exec(query.order_by(col(SelfReferral.id)).limit(_page_size(limit)))).all())
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.CONSULTATION,
                action="self-referral.read",
                purpose=PURPOSE_INTAKE,
                subject_ids={"self_referral": item.id},
            )
            for item in items
        ],
    )
    return items


async def triage_self_referral(
    *,
    db: AsyncSession,
    actor: Principal,
    self_referral_id: int,
    idempotency_key: str,
    case: CaseInput | None = None,
    guardian: GuardianInput | None = None,
    close_reason: IntakeCloseReason | None = None,
) -> SelfReferral:
    """A Hub co-ordinator turns a new self-referral into a victim, case and referral (no tasks), or closes it.

    Consent to be contacted is not consent to share: providers are added and sent later, under recorded consent.
    The case's arrival route is always self-referral, whatever the input says.
    """
    _require(actor, Scope.REFERRALS_WRITE)
    if not actor.roles & {Role.HUB_COORDINATOR, Role.HUB_SUPERVISOR}:
        raise Forbidden()
    if (case is None) == (close_reason is None):
        raise ValidationFailed("Triage either creates a case or closes the self-referral with a reason.")
    claim = await _claim(
        db,
        actor,
        "self-referral.triage",
        idempotency_key,
        {"id": self_referral_id, "case": case, "guardian": guardian, "close": close_reason},
    )
    item = (
        await db.exec(
            select(SelfReferral).where(
                col(SelfReferral.id) == (claim.replayed_result_id or self_referral_id),
                col(SelfReferral.hub_organisation_id) == actor.organisation_id,
            )
        )
    ).first()
    if item is None:
        raise NotFound()
    if claim.replayed_result_id is not None:
        return item
    if item.status != IntakeStatus.NEW.value:
        raise InvalidTransition("This self-referral has already been triaged.")
    now = utc_now()
    values: dict[str, Any] = {"triaged_at": now, "triaged_by": actor.actor_label}
    audit: AuditRecord
    if close_reason is not None:
        values |= {"status": IntakeStatus.CLOSED.value, "close_reason": _reason_code(IntakeCloseReason, close_reason)}
        audit = AuditRecord(
            category=AuditCategory.ALTERATION,
            action="self-referral.close",
            purpose=PURPOSE_INTAKE,
            subject_ids={"self_referral": item.id},
        )
    else:
        assert case is not None
        victim_input = VictimInput(
            given_name=item.given_name,
            family_name=item.family_name,
            date_of_birth=item.date_of_birth,
            address=item.address,
            postcode=item.postcode,
            phone=item.phone,
            email=item.email,
            guardian=guardian,
            safe_contact=SafeContactInput(
                safe_phone=item.safe_phone,
                safe_times=item.safe_times,
                voicemail_safe=item.voicemail_safe,
                letters_safe=item.letters_safe,
                perpetrator_shares_address=item.perpetrator_shares_address,
            ),
            language=item.language,
            interpreter_needed=item.interpreter_needed,
        )
        case = dataclasses.replace(case, arrival_route=ArrivalRoute.SELF_REFERRAL)
        validate_victim_input(victim_input, today=now.date())
        validate_case_input(case)
        victim = new_victim(victim_input, hub_organisation_id=actor.organisation_id)
        referral, case_row, _, _ = await _create_referral_rows(
            db, actor=actor, victim=victim, case=case, consents=(), provider_slugs=()
        )
        values |= {"status": IntakeStatus.REFERRAL_CREATED.value, "referral_id": referral.id}
        audit = AuditRecord(
            category=AuditCategory.COMBINATION,
            action="self-referral.triage",
            purpose=PURPOSE_INTAKE,
            victim_id=victim.id,
            subject_ids={"self_referral": item.id, "victim": victim.id, "case": case_row.id, "referral": referral.id},
        )
    # The status guard makes a second, racing triage change nothing and report a conflict.
    result = await db.exec(
        sa.update(SelfReferral)
        .where(col(SelfReferral.id) == item.id, col(SelfReferral.status) == IntakeStatus.NEW.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict()
    await db.refresh(item)
    await append_audit(db=db, actor=actor, records=[audit])
    assert item.id is not None
    await remember_result(db=db, claim=claim, result_id=item.id)
    return item


async def get_provider_task(*, db: AsyncSession, actor: Principal, task_id: int) -> ReferralTask:
    """A task sent to the calling provider; a draft, another provider's task or a missing one is NotFound."""
    return await _load_task(db, task_id, _provider_tasks(actor))
