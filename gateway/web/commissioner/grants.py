"""Grants and their targets: listed for the Commissioner's office, recorded and edited by those who may.

The same service calls as the GraphQL createGrant / updateGrant, with the same idempotency key per form and
the same version check on edit: a grant changed by someone else since the form was opened is a conflict,
answered with the latest values to check and try again.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from starlette.responses import Response

from gateway.auth.principal import Scope
from gateway.db import AsyncSession
from gateway.errors import DomainError, ErrorCode
from gateway.grants import service as grants_service
from gateway.grants.models import FundingSource, Grant, TargetMeasure
from gateway.grants.service import (
    MAX_AMOUNT_PENCE,
    MAX_REFERENCE_LENGTH,
    GrantInput,
    GrantTargetInput,
)
from gateway.web.commissioner.view import TARGET_LABELS, financial_year_label
from gateway.web.forms import FormErrors
from gateway.web.visit import NotFoundPage, Visit
from providers.registry import all_profiles

BASE = "/portal/commissioner/grants"
FUNDING_LABELS = {
    FundingSource.MOJ_VICTIMS_SERVICES_GRANT.value: "Ministry of Justice victims' services grant",
    FundingSource.PCC_CORE.value: "Police and Crime Commissioner core funding",
    FundingSource.OTHER.value: "Other",
}
_AMOUNT = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
_YEAR = re.compile(r"^\d{4}$")
_TARGET = re.compile(r"^\d{1,7}(\.\d{1,2})?$")
CONFLICT_MESSAGE = (
    "Someone else changed this grant while you were looking at it. Here is the latest version: "
    "check it and make your change again."
)


@dataclass
class GrantForm:
    """What the form shows: the values typed (or stored), as text, so an invalid answer is shown back as typed."""

    provider: str = ""
    reference: str = ""
    amount: str = ""
    first_year: str = ""
    last_year: str = ""
    funding_source: str = ""
    services: list[str] = field(default_factory=list)
    targets: dict[str, str] = field(default_factory=dict)
    version: int = 0

    @classmethod
    def of(cls, grant: Grant, slug: str, targets: dict[str, float]) -> GrantForm:
        pounds = Decimal(grant.amount_pence) / 100
        return cls(
            provider=slug,
            reference=grant.reference,
            amount=f"{pounds:.2f}",
            first_year=str(grant.first_financial_year),
            last_year=str(grant.last_financial_year),
            funding_source=grant.funding_source,
            services=list(grant.services_funded),
            targets={m: f"{v:g}" for m, v in targets.items()},
            version=grant.version,
        )


def _can_edit(visit: Visit) -> bool:
    return visit.has(Scope.GRANTS_WRITE) and visit.has(Scope.MONITORING_READ)


def _grant_id(visit: Visit) -> int:
    raw = str(visit.request.path_params.get("id", ""))
    if not raw.isdigit() or len(raw) > 10 or int(raw) > 2**31 - 1:
        raise NotFoundPage()
    return int(raw)


async def _listed(db: AsyncSession, visit: Visit) -> list[tuple[Grant, str, dict[str, float]]]:
    rows = await grants_service.list_grants(db=db, actor=visit.principal)
    slugs = await grants_service.provider_slugs_by_organisation(
        db=db, organisation_ids=[g.provider_organisation_id for g in rows]
    )
    targets = await grants_service.load_targets_for_grants(
        db=db, actor=visit.principal, grant_ids=[g.id for g in rows if g.id is not None]
    )
    return [
        (g, slugs.get(g.provider_organisation_id, ""), {t.measure: t.value for t in targets.get(g.id or 0, [])})
        for g in rows
    ]


async def grant_list(visit: Visit) -> Response:
    grants = await visit.read(lambda db: _listed(db, visit))
    profiles = all_profiles()
    return visit.render(
        "commissioner/grants.html",
        title="Grants and targets",
        grants=grants,
        can_edit=_can_edit(visit),
        provider_names={slug: p.display_name for slug, p in profiles.items()},
        funding_labels=FUNDING_LABELS,
        target_labels=TARGET_LABELS,
        year_label=financial_year_label,
    )


def _pence(typed: str, errors: FormErrors) -> int:
    amount = typed.replace(",", "").removeprefix("£")
    if not _AMOUNT.match(amount):
        errors.add("amount", "Enter the amount in pounds, like 125000 or 125000.50")
        return 0
    pence = int(Decimal(amount) * 100)
    if not 0 < pence <= MAX_AMOUNT_PENCE:
        errors.add("amount", "The amount must be more than £0 and at most £21,474,836.47")
    return pence


def _targets(form: GrantForm, errors: FormErrors) -> list[GrantTargetInput]:
    targets = []
    for measure in TargetMeasure:
        typed = form.targets.get(measure.value, "")
        if not typed:
            continue
        try:
            if not _TARGET.match(typed):
                raise InvalidOperation
            targets.append(GrantTargetInput(measure=measure, value=float(Decimal(typed))))
        except InvalidOperation:
            errors.add(f"target-{measure.value}", "Enter the target as a number, or leave it empty")
    return targets


def _read_form(visit: Visit, errors: FormErrors) -> tuple[GrantForm, GrantInput | None]:
    form = GrantForm(
        provider=visit.field("provider", limit=60),
        reference=visit.field("reference", limit=MAX_REFERENCE_LENGTH),
        amount=visit.field("amount", limit=20),
        first_year=visit.field("first-year", limit=4),
        last_year=visit.field("last-year", limit=4),
        funding_source=visit.field("funding-source", limit=40),
        services=visit.fields("services", limit=200, count=20),
        targets={m.value: visit.field(f"target-{m.value}", limit=12) for m in TargetMeasure},
    )
    profiles = all_profiles()
    if form.provider not in profiles:
        errors.add("provider", "Select the provider the grant pays")
    if not form.reference:
        errors.add("reference", "Enter the grant's reference")
    elif len(form.reference) > MAX_REFERENCE_LENGTH:
        errors.add("reference", f"The reference must be {MAX_REFERENCE_LENGTH} characters or fewer")
    pence = _pence(form.amount, errors)
    for name, value in (("first-year", form.first_year), ("last-year", form.last_year)):
        if not _YEAR.match(value):
            errors.add(name, "Enter the year the financial year starts in, like 2026 for April 2026 to March 2027")
    if form.funding_source not in FUNDING_LABELS:
        errors.add("funding-source", "Select where the money comes from")
    if not form.services:
        errors.add("services", "Select at least one service the grant funds")
    targets = _targets(form, errors)
    if errors:
        return form, None
    return form, GrantInput(
        provider_slug=form.provider,
        reference=form.reference,
        amount_pence=pence,
        first_financial_year=int(form.first_year),
        last_financial_year=int(form.last_year),
        funding_source=FundingSource(form.funding_source),
        services_funded=tuple(form.services),
        targets=tuple(targets),
    )


def _field_for(message: str) -> str:
    """Which field a service's refusal is about, so the summary links to it."""
    lowered = message.lower()
    for words, field_id in (
        ("reference", "reference"),
        ("amount", "amount"),
        ("period", "first-year"),
        ("financial year", "first-year"),
        ("service", "services"),
        ("provider", "provider"),
        ("target", "reference"),
    ):
        if words in lowered:
            return field_id
    return "reference"


def _render_form(
    visit: Visit, form: GrantForm, errors: FormErrors | None, *, grant_id: int | None, status_code: int = 200
) -> Response:
    profiles = all_profiles()
    return visit.render(
        "commissioner/grant_form.html",
        status_code=status_code,
        title="Record a grant" if grant_id is None else f"Edit grant {form.reference}",
        errors=errors,
        form=form,
        grant_id=grant_id,
        action=BASE + ("/new" if grant_id is None else f"/{grant_id}"),
        idempotency_key=uuid.uuid4().hex,
        providers=[(slug, p.display_name, p.services) for slug, p in sorted(profiles.items())],
        funding_labels=FUNDING_LABELS,
        target_labels=TARGET_LABELS,
        share_targets={m.value for m in TargetMeasure if m.value.endswith("-share")},
    )


def _key(visit: Visit) -> str:
    key = visit.field("idempotency_key", limit=64)
    return key if key and len(key) <= 64 else uuid.uuid4().hex


async def new_grant(visit: Visit) -> Response:
    if not _can_edit(visit):
        raise NotFoundPage()
    if visit.request.method != "POST":
        return _render_form(visit, GrantForm(), None, grant_id=None)
    errors = FormErrors()
    form, grant = _read_form(visit, errors)
    if grant is None:
        return _render_form(visit, form, errors, grant_id=None, status_code=400)
    try:
        await visit.run(
            lambda db: grants_service.create_grant(
                db=db, actor=visit.principal, grant=grant, idempotency_key=_key(visit)
            )
        )
    except DomainError as refusal:
        errors.add(_field_for(refusal.message), refusal.message)
        return _render_form(visit, form, errors, grant_id=None, status_code=400)
    await visit.flash(f"Grant {grant.reference.strip()} recorded")
    return visit.redirect(BASE)


async def _stored(visit: Visit, grant_id: int) -> GrantForm:
    listed = await visit.read(lambda db: _listed(db, visit))
    for grant, slug, targets in listed:
        if grant.id == grant_id:
            return GrantForm.of(grant, slug, targets)
    raise NotFoundPage()


async def edit_grant(visit: Visit) -> Response:
    if not _can_edit(visit):
        raise NotFoundPage()
    grant_id = _grant_id(visit)
    stored = await _stored(visit, grant_id)
    if visit.request.method != "POST":
        return _render_form(visit, stored, None, grant_id=grant_id)
    errors = FormErrors()
    form, grant = _read_form(visit, errors)
    version_typed = visit.field("version", limit=10)
    form.version = int(version_typed) if version_typed.isdigit() else 0
    if grant is None:
        return _render_form(visit, form, errors, grant_id=grant_id, status_code=400)
    try:
        await visit.run(
            lambda db: grants_service.update_grant(
                db=db,
                actor=visit.principal,
                grant_id=grant_id,
                expected_version=form.version,
                grant=grant,
                idempotency_key=_key(visit),
            )
        )
    except DomainError as refusal:
        if refusal.code == ErrorCode.CONFLICT:
            conflict = FormErrors()
            conflict.add("reference", CONFLICT_MESSAGE)
            return _render_form(visit, await _stored(visit, grant_id), conflict, grant_id=grant_id, status_code=409)
        errors.add(_field_for(refusal.message), refusal.message)
        return _render_form(visit, form, errors, grant_id=grant_id, status_code=400)
    await visit.flash(f"Grant {grant.reference.strip()} updated")
    return visit.redirect(BASE)
