"""Rules for consent: what a valid record holds, whether it covers a provider now, and withdrawal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.consent.models import Consent, ConsentMethod
from gateway.db import AsyncSession
from gateway.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from gateway.events.models import EventType
from gateway.events.service import record_event
from gateway.idempotency.service import claim_idempotency_key, remember_result
from gateway.organisations.models import utc_now
from gateway.referrals.models import OPEN_STATUSES, CancelReason, ReferralTask, TaskStatus
from gateway.victims.models import ConsentGiver, Victim
from providers.profile import VictimField
from providers.registry import all_profiles

PURPOSE_CONSENT = "consent-management"
# Clocks differ between the Hub's devices and the server; a consent "given" slightly ahead is still plausible.
ALLOWED_CLOCK_SKEW = timedelta(minutes=5)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; SQLite returns the naive UTC values it was given."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ConsentInput:
    given_by: ConsentGiver
    method: ConsentMethod
    given_at: datetime
    provider_slugs: frozenset[str]
    data_categories: frozenset[VictimField]
    statistics_consent: bool
    withheld_information: str | None = None
    withheld_reason: str | None = None
    expires_at: datetime | None = None


class ConsentState(StrEnum):
    VALID = "valid"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ConsentStanding:
    """Whether a provider may receive a victim's details under consent now, and the record that says so."""

    state: ConsentState
    consent: Consent | None = None
    latest_withdrawal_at: datetime | None = None
    covering: tuple[Consent, ...] = field(default=())


def consent_standing(consents: Iterable[Consent], *, provider_slug: str, now: datetime) -> ConsentStanding:
    """A withdrawal outranks every consent recorded before it; only a consent recorded afterwards restores sharing."""
    covering = tuple(c for c in consents if provider_slug in c.provider_slugs)
    withdrawals = [as_utc(c.withdrawn_at) for c in covering if c.withdrawn_at is not None]
    latest_withdrawal = max(withdrawals) if withdrawals else None
    standing = [
        c
        for c in covering
        if c.withdrawn_at is None and (latest_withdrawal is None or as_utc(c.recorded_at) > latest_withdrawal)
    ]
    unexpired = [c for c in standing if c.expires_at is None or as_utc(c.expires_at) > as_utc(now)]
    if unexpired:
        newest = max(unexpired, key=lambda c: (as_utc(c.recorded_at), c.id or 0))
        return ConsentStanding(ConsentState.VALID, newest, latest_withdrawal, covering)
    if standing:
        return ConsentStanding(ConsentState.EXPIRED, None, latest_withdrawal, covering)
    if latest_withdrawal is not None:
        return ConsentStanding(ConsentState.WITHDRAWN, None, latest_withdrawal, covering)
    return ConsentStanding(ConsentState.NONE, None, None, covering)


def validate_consent_input(consent: ConsentInput, *, victim_has_guardian: bool, now: datetime) -> None:
    """Raise ValidationFailed naming the first fault of a consent record."""
    if not consent.provider_slugs:
        raise ValidationFailed("Consent must name at least one provider.")
    unknown = sorted(slug for slug in consent.provider_slugs if slug not in all_profiles())
    if unknown:
        raise ValidationFailed(f"Consent names unknown providers: {', '.join(unknown)}.")
    if not consent.data_categories:
        raise ValidationFailed("Consent must name at least one category of data.")
    if as_utc(consent.given_at) > as_utc(now) + ALLOWED_CLOCK_SKEW:
        raise ValidationFailed("Consent cannot be given in the future.")
    if consent.expires_at is not None and as_utc(consent.expires_at) <= as_utc(consent.given_at):
        raise ValidationFailed("Consent must expire after it was given.")
    if bool(consent.withheld_information and consent.withheld_information.strip()) != bool(
        consent.withheld_reason and consent.withheld_reason.strip()
    ):
        raise ValidationFailed("Information withheld and the reason for withholding it go together.")
    if consent.given_by is ConsentGiver.GUARDIAN and not victim_has_guardian:
        raise ValidationFailed("Consent given by a guardian needs the guardian recorded on the victim.")


def new_consent(consent: ConsentInput, *, victim: Victim, actor: Principal) -> Consent:
    """A consent row from validated input, recorded by the actor now."""
    assert victim.id is not None
    return Consent(
        hub_organisation_id=victim.hub_organisation_id,
        victim_id=victim.id,
        given_by=consent.given_by.value,
        method=consent.method.value,
        given_at=as_utc(consent.given_at),
        recorded_by=actor.actor_label,
        provider_slugs=sorted(consent.provider_slugs),
        data_categories=sorted(f.value for f in consent.data_categories),
        withheld_information=consent.withheld_information,
        withheld_reason=consent.withheld_reason,
        statistics_consent=consent.statistics_consent,
        expires_at=as_utc(consent.expires_at) if consent.expires_at else None,
    )


def _require_hub_writer(actor: Principal) -> None:
    if not actor.has(Scope.REFERRALS_WRITE):
        raise Forbidden()


async def _own_consent(db: AsyncSession, actor: Principal, consent_id: int) -> Consent:
    consent = (
        await db.exec(
            select(Consent).where(Consent.id == consent_id, Consent.hub_organisation_id == actor.organisation_id)
        )
    ).first()
    if consent is None:
        raise NotFound()
    return consent


async def record_consent(
    *, db: AsyncSession, actor: Principal, victim_id: int, consent: ConsentInput, idempotency_key: str
) -> Consent:
    """The Hub records a consent for one of its own victims; the actor is recorded as who took it."""
    _require_hub_writer(actor)
    claim = await claim_idempotency_key(
        db=db,
        organisation_id=actor.organisation_id,
        operation="consent.record",
        key=idempotency_key,
        request={"victim_id": victim_id, "consent": consent},
    )
    if claim.replayed_result_id is not None:
        return await _own_consent(db, actor, claim.replayed_result_id)
    victim = (
        await db.exec(select(Victim).where(Victim.id == victim_id, Victim.hub_organisation_id == actor.organisation_id))
    ).first()
    if victim is None:
        raise NotFound()
    validate_consent_input(consent, victim_has_guardian=victim.guardian_name is not None, now=utc_now())
    row = new_consent(consent, victim=victim, actor=actor)
    db.add(row)
    await db.flush()
    assert row.id is not None
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.COLLECTION,
                action="consent.record",
                purpose=PURPOSE_CONSENT,
                victim_id=victim_id,
                subject_ids={"victim": victim_id, "consent": row.id},
            )
        ],
    )
    await remember_result(db=db, claim=claim, result_id=row.id)
    return row


async def withdraw_consent(*, db: AsyncSession, actor: Principal, consent_id: int, idempotency_key: str) -> Consent:
    """Withdrawal is immediate: covered providers' open tasks are cancelled, they are told, and it is audited."""
    _require_hub_writer(actor)
    claim = await claim_idempotency_key(
        db=db,
        organisation_id=actor.organisation_id,
        operation="consent.withdraw",
        key=idempotency_key,
        request={"consent_id": consent_id},
    )
    if claim.replayed_result_id is not None:
        return await _own_consent(db, actor, claim.replayed_result_id)
    consent = await _own_consent(db, actor, consent_id)
    if consent.withdrawn_at is not None:
        raise InvalidTransition("This consent is already withdrawn.")
    now = utc_now()
    withdrawn = await db.exec(
        sa.update(Consent)
        .where(col(Consent.id) == consent_id, col(Consent.withdrawn_at).is_(None))
        .values(withdrawn_at=now, withdrawn_by=actor.actor_label)
        .execution_options(synchronize_session=False)
    )
    if withdrawn.rowcount != 1:
        raise Conflict()
    await db.refresh(consent)

    covered_tasks = (
        col(ReferralTask.victim_id) == consent.victim_id,
        col(ReferralTask.hub_organisation_id) == actor.organisation_id,
        col(ReferralTask.provider_slug).in_(consent.provider_slugs),
    )
    cancelled_rows = (
        await db.exec(
            sa.update(ReferralTask)
            .where(*covered_tasks, col(ReferralTask.status).in_([s.value for s in OPEN_STATUSES]))
            .values(
                status=TaskStatus.CANCELLED.value,
                status_reason=CancelReason.CONSENT_WITHDRAWN.value,
                version=col(ReferralTask.version) + 1,
                updated_at=now,
                closed_at=now,
            )
            .returning(col(ReferralTask.id))
            .execution_options(synchronize_session=False)
        )
    ).all()
    cancelled_ids = sorted(int(row[0]) for row in cancelled_rows)
    # Refresh any task objects the caller already holds, so nobody acts on a stale status.
    sent_tasks = (
        await db.exec(
            select(ReferralTask)
            .where(*covered_tasks, col(ReferralTask.status) != TaskStatus.DRAFT.value)
            .execution_options(populate_existing=True)
        )
    ).all()

    # Only providers that were ever sent this victim hear of the withdrawal; others never knew of them.
    tasks_by_provider: dict[int, list[int]] = defaultdict(list)
    for task in sent_tasks:
        assert task.id is not None
        tasks_by_provider[task.provider_organisation_id].append(task.id)
    for provider_organisation_id, task_ids in sorted(tasks_by_provider.items()):
        await record_event(
            db=db,
            event_type=EventType.CONSENT_WITHDRAWN,
            organisation_id=provider_organisation_id,
            subject_ids={
                "consent": consent_id,
                "task_ids": sorted(task_ids),
                "cancelled_task_ids": [t for t in sorted(task_ids) if t in cancelled_ids],
            },
        )
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.ALTERATION,
                action="consent.withdraw",
                purpose=PURPOSE_CONSENT,
                victim_id=consent.victim_id,
                subject_ids={"victim": consent.victim_id, "consent": consent_id, "cancelled_task_ids": cancelled_ids},
            )
        ],
    )
    await remember_result(db=db, claim=claim, result_id=consent_id)
    return consent


async def load_consents_for_victims(
    *, db: AsyncSession, actor: Principal, victim_ids: Sequence[int]
) -> dict[int, list[Consent]]:
    """The Hub's consent records for its own victims, in one query, newest first."""
    if not actor.has(Scope.REFERRALS_READ):
        raise Forbidden()
    found: dict[int, list[Consent]] = {victim_id: [] for victim_id in victim_ids}
    if not victim_ids:
        return found
    rows = await db.exec(
        select(Consent)
        .where(col(Consent.victim_id).in_(set(victim_ids)), Consent.hub_organisation_id == actor.organisation_id)
        .order_by(col(Consent.recorded_at).desc(), col(Consent.id).desc())
    )
    read_victims: set[int] = set()
    for consent in rows.all():
        found[consent.victim_id].append(consent)
        read_victims.add(consent.victim_id)
    # Consent records name the guardian's role and what was withheld and why: reading them is a consultation.
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.CONSULTATION,
                action="consent.read",
                purpose=PURPOSE_CONSENT,
                victim_id=victim_id,
                subject_ids={"victim": victim_id, "consents": [c.id for c in found[victim_id]]},
            )
            for victim_id in sorted(read_victims)
        ],
    )
    return found
