"""Rules for grants: the Commissioner's office (or an administrator) records what it pays each provider.

Grants cover whole financial years and carry the targets the provider agreed. Every change is audited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import Conflict, Forbidden, ValidationFailed
from gateway.grants.models import FundingSource, Grant, GrantTarget, TargetMeasure
from gateway.idempotency.service import claim_for, remember_result
from gateway.kit import get_or_not_found, require, require_any
from gateway.organisations.models import Organisation, OrganisationRole
from providers.registry import get_profile

PURPOSE_COMMISSIONING = "commissioning"
MAX_REFERENCE_LENGTH = 60
# A grant longer than this is a typing slip; commissioning rounds run for one to three years.
MAX_FINANCIAL_YEARS = 5
EARLIEST_FINANCIAL_YEAR, LATEST_FINANCIAL_YEAR = 2000, 2100
# GraphQL Int is 32 bits: £21,474,836.47, far above any single victims' services grant.
MAX_AMOUNT_PENCE = 2**31 - 1
SHARE_TARGETS = frozenset(m for m in TargetMeasure if m.value.endswith("-share"))
MAX_COUNT_TARGET = 1_000_000


@dataclass(frozen=True, slots=True)
class GrantTargetInput:
    measure: TargetMeasure
    value: float


@dataclass(frozen=True, slots=True)
class GrantInput:
    """A grant as the Commissioner's office records it; an update replaces every field and target."""

    provider_slug: str
    reference: str
    amount_pence: int
    first_financial_year: int
    last_financial_year: int
    funding_source: FundingSource
    services_funded: tuple[str, ...]
    targets: tuple[GrantTargetInput, ...] = ()


def validate_grant_input(grant: GrantInput) -> None:
    """A known provider, a reference, a positive whole-pence amount, whole financial years, its own services."""
    profile = get_profile(grant.provider_slug)
    if profile is None:
        raise ValidationFailed("Unknown provider.")
    reference = grant.reference.strip()
    if not reference or len(reference) > MAX_REFERENCE_LENGTH or not reference.isprintable():
        raise ValidationFailed(f"The reference must be 1 to {MAX_REFERENCE_LENGTH} printable characters.")
    if not 0 < grant.amount_pence <= MAX_AMOUNT_PENCE:
        raise ValidationFailed("The amount must be a positive whole number of pence.")
    first, last = grant.first_financial_year, grant.last_financial_year
    if not EARLIEST_FINANCIAL_YEAR <= first <= last <= LATEST_FINANCIAL_YEAR:
        raise ValidationFailed("The period must be whole financial years, the first no later than the last.")
    if last - first + 1 > MAX_FINANCIAL_YEARS:
        raise ValidationFailed(f"A grant covers at most {MAX_FINANCIAL_YEARS} financial years.")
    FundingSource(grant.funding_source)
    if not grant.services_funded:
        raise ValidationFailed("Name at least one service the grant funds.")
    unknown_services = set(grant.services_funded) - set(profile.services)
    if unknown_services:
        raise ValidationFailed("Services funded must be services in the provider's profile.")
    if len(set(grant.services_funded)) != len(grant.services_funded):
        raise ValidationFailed("Each service can be named only once.")
    measures = [t.measure for t in grant.targets]
    if len(set(measures)) != len(measures):
        raise ValidationFailed("Each target measure can appear only once.")
    for target in grant.targets:
        ceiling = 100 if target.measure in SHARE_TARGETS else MAX_COUNT_TARGET
        if not 0 <= target.value <= ceiling:
            raise ValidationFailed(f"The {target.measure.value} target must be between 0 and {ceiling}.")


async def _require_grant_writer(db: AsyncSession, actor: Principal) -> None:
    # grants:write alone is not enough: a provider's client granted it by mistake must not set its own funding.
    require(actor, Scope.GRANTS_WRITE)
    if actor.has(Scope.ADMIN):
        return
    organisation = await db.get(Organisation, actor.organisation_id)
    if organisation is None or not organisation.active or OrganisationRole.COMMISSIONER.value not in organisation.roles:
        raise Forbidden()


async def _provider_organisation_id(db: AsyncSession, slug: str) -> int:
    organisation = (await db.exec(select(Organisation).where(col(Organisation.slug) == slug))).first()
    if organisation is None or organisation.id is None or OrganisationRole.PROVIDER.value not in organisation.roles:
        raise ValidationFailed("Unknown provider.")
    return organisation.id


async def _refuse_taken_reference(db: AsyncSession, reference: str, grant_id: int | None) -> None:
    query = select(Grant.id).where(col(Grant.reference) == reference)
    if grant_id is not None:
        query = query.where(col(Grant.id) != grant_id)
    if (await db.exec(query)).first() is not None:
        raise ValidationFailed("Another grant already has this reference.")


def _columns(grant: GrantInput, provider_organisation_id: int) -> dict[str, Any]:
    return {
        "reference": grant.reference.strip(),
        "provider_organisation_id": provider_organisation_id,
        "amount_pence": grant.amount_pence,
        "first_financial_year": grant.first_financial_year,
        "last_financial_year": grant.last_financial_year,
        "funding_source": FundingSource(grant.funding_source).value,
        "services_funded": list(grant.services_funded),
    }


def _grant_audit(grant: Grant, action: str) -> AuditRecord:
    return AuditRecord(
        category=AuditCategory.ALTERATION,
        action=action,
        purpose=PURPOSE_COMMISSIONING,
        subject_ids={"grant": grant.id, "reference": grant.reference, "version": grant.version},
    )


async def create_grant(*, db: AsyncSession, actor: Principal, grant: GrantInput, idempotency_key: str) -> Grant:
    """The Commissioner's office or an administrator records a grant to a provider, with its targets."""
    await _require_grant_writer(db, actor)
    claim = await claim_for(db=db, actor=actor, operation="grant.create", key=idempotency_key, request={"grant": grant})
    if claim.replayed_result_id is not None:
        return await get_or_not_found(db, Grant, claim.replayed_result_id, populate_existing=True)
    validate_grant_input(grant)
    provider_id = await _provider_organisation_id(db, grant.provider_slug)
    await _refuse_taken_reference(db, grant.reference.strip(), None)
    row = Grant(**_columns(grant, provider_id), created_by=actor.actor_label)
    db.add(row)
    await db.flush()
    assert row.id is not None
    db.add_all(GrantTarget(grant_id=row.id, measure=t.measure.value, value=t.value) for t in grant.targets)
    await append_audit(db=db, actor=actor, records=[_grant_audit(row, "grant.create")])
    await remember_result(db=db, claim=claim, result_id=row.id)
    return row


async def update_grant(
    *,
    db: AsyncSession,
    actor: Principal,
    grant_id: int,
    expected_version: int,
    grant: GrantInput,
    idempotency_key: str,
) -> Grant:
    """A grant writer replaces a grant and its targets, only from the version they saw."""
    await _require_grant_writer(db, actor)
    request = {"id": grant_id, "version": expected_version, "grant": grant}
    claim = await claim_for(db=db, actor=actor, operation="grant.update", key=idempotency_key, request=request)
    if claim.replayed_result_id is not None:
        return await get_or_not_found(db, Grant, claim.replayed_result_id, populate_existing=True)
    validate_grant_input(grant)
    existing = await get_or_not_found(db, Grant, grant_id, populate_existing=True)
    provider_id = await _provider_organisation_id(db, grant.provider_slug)
    await _refuse_taken_reference(db, grant.reference.strip(), grant_id)
    # UPDATE ... WHERE version = :seen: of two racing editors exactly one wins.
    result = await db.exec(
        sa.update(Grant)
        .where(col(Grant.id) == grant_id, col(Grant.version) == expected_version)
        .values(**_columns(grant, provider_id), version=expected_version + 1, updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict()
    await db.exec(sa.delete(GrantTarget).where(col(GrantTarget.grant_id) == grant_id))
    db.add_all(GrantTarget(grant_id=grant_id, measure=t.measure.value, value=t.value) for t in grant.targets)
    await db.refresh(existing)
    await append_audit(db=db, actor=actor, records=[_grant_audit(existing, "grant.update")])
    await remember_result(db=db, claim=claim, result_id=grant_id)
    return existing


async def list_grants(*, db: AsyncSession, actor: Principal, financial_year: int | None = None) -> list[Grant]:
    """Holders of grants:write or monitoring:read list grants, optionally those covering one financial year."""
    require_any(actor, Scope.GRANTS_WRITE, Scope.MONITORING_READ)
    query = select(Grant).order_by(col(Grant.reference))
    if financial_year is not None:
        query = query.where(
            col(Grant.first_financial_year) <= financial_year, col(Grant.last_financial_year) >= financial_year
        )
    return list((await db.exec(query)).all())


async def load_targets_for_grants(
    *, db: AsyncSession, actor: Principal, grant_ids: Sequence[int]
) -> dict[int, list[GrantTarget]]:
    """The targets of several grants in one query, by grant id."""
    require_any(actor, Scope.GRANTS_WRITE, Scope.MONITORING_READ)
    found: dict[int, list[GrantTarget]] = defaultdict(list)
    if not grant_ids:
        return found
    rows = await db.exec(
        select(GrantTarget).where(col(GrantTarget.grant_id).in_(grant_ids)).order_by(col(GrantTarget.measure))
    )
    for row in rows.all():
        found[row.grant_id].append(row)
    return found


async def provider_slugs_by_organisation(*, db: AsyncSession, organisation_ids: Sequence[int]) -> dict[int, str]:
    """Provider slugs for organisation ids, in one query (grants name the provider by slug outside the database)."""
    if not organisation_ids:
        return {}
    rows = await db.exec(select(Organisation.id, Organisation.slug).where(col(Organisation.id).in_(organisation_ids)))
    return {int(organisation_id): slug for organisation_id, slug in rows.all() if organisation_id is not None}
