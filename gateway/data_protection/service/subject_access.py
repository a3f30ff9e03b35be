"""Subject access: everything held about one victim, and who saw or received it, as one document.

Read only through the victim's own id, every query filtered on it, so nothing about another person can join
the export. Free text a consent withheld from sharing is included but marked for the officer's review before
release, because it may concern someone else or be withheld for the victim's safety.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import col, select

from gateway.audit.models import AuditCategory, AuditEntry
from gateway.audit.service import TRAIL_ORDER, AuditRecord, append_audit
from gateway.auth.principal import Principal
from gateway.clock import utc_now
from gateway.consent.models import Consent
from gateway.data_protection.models import LegalHold, Rectification
from gateway.data_protection.service.access import PURPOSE_SUBJECT_ACCESS, require_officer
from gateway.data_protection.service.officer import load_controlled_victim
from gateway.db import AsyncSession
from gateway.organisations.models import Organisation
from gateway.outcomes.models import OutcomeMeasureResult, OutcomeRecord
from gateway.referrals.models import Case, ContactAttempt, Referral, ReferralTask, SelfReferral
from gateway.restorative_justice.models import RjCase
from gateway.victims.models import Victim

Json = dict[str, Any]
VICTIM_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "address",
    "postcode",
    "phone",
    "email",
    "guardian_name",
    "guardian_relationship",
    "guardian_phone",
    "guardian_email",
    "safe_phone",
    "safe_times",
    "voicemail_safe",
    "letters_safe",
    "perpetrator_shares_address",
    "language",
    "interpreter_needed",
    "equality_age_band",
    "equality_sex",
    "equality_ethnicity",
    "equality_disability",
    "created_at",
    "updated_at",
)
# What the log calls each disclosure, in words for the victim.
DISCLOSURE_WORDS = {
    "task.send": "referral sent, with the details the consent covers",
    "victim.view": "victim's details read by the provider",
}


def _value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _row(row: Any, names: tuple[str, ...]) -> Json:
    return {name: _value(getattr(row, name)) for name in names}


async def _all(db: AsyncSession, statement: Any) -> list[Any]:
    return list((await db.exec(statement)).all())


async def _disclosures(db: AsyncSession, victim: Victim, tasks: list[ReferralTask]) -> list[Json]:
    """Every time another organisation was sent or read this victim's details, from the s.62 log."""
    entries = await _all(
        db,
        select(AuditEntry)
        .where(
            AuditEntry.victim_id == victim.id,
            AuditEntry.category == AuditCategory.DISCLOSURE.value,
        )
        .order_by(*TRAIL_ORDER),
    )
    organisations = {
        o.id: o.slug
        for o in await _all(
            db,
            select(Organisation).where(
                col(Organisation.id).in_({e.recipient_organisation_id for e in entries} | {victim.hub_organisation_id})
            ),
        )
    }
    consent_of_task = {t.id: t.consent_id for t in tasks}
    found = []
    for entry in entries:
        task_id = entry.subject_ids.get("task")
        consent_id = entry.subject_ids.get("consent", consent_of_task.get(task_id))
        found.append(
            {
                "at": _value(entry.occurred_at),
                "organisation": organisations.get(entry.recipient_organisation_id),
                "what": DISCLOSURE_WORDS.get(entry.action, entry.action),
                "action": entry.action,
                "task_id": task_id,
                "under": "safeguarding override" if entry.safeguarding_override else "consent",
                "consent_id": None if entry.safeguarding_override else consent_id,
                "purpose": entry.purpose,
            }
        )
    return found


async def _tasks(db: AsyncSession, tasks: list[ReferralTask]) -> list[Json]:
    task_ids = [t.id for t in tasks]
    attempts = await _all(
        db, select(ContactAttempt).where(col(ContactAttempt.task_id).in_(task_ids)).order_by(col(ContactAttempt.id))
    )
    outcomes = {
        o.task_id: o for o in await _all(db, select(OutcomeRecord).where(col(OutcomeRecord.task_id).in_(task_ids)))
    }
    measures = await _all(
        db,
        select(OutcomeMeasureResult).where(col(OutcomeMeasureResult.outcome_id).in_([o.id for o in outcomes.values()])),
    )
    result = []
    for task in tasks:
        outcome = outcomes.get(task.id)
        result.append(
            {
                **_row(
                    task,
                    (
                        "id",
                        "reference",
                        "provider_slug",
                        "status",
                        "status_reason",
                        "consent_id",
                        "safeguarding_override",
                        "requested_at",
                        "accepted_at",
                        "first_contact_at",
                        "appointment_at",
                        "closed_at",
                    ),
                ),
                "contact_attempts": [
                    _row(a, ("attempted_at", "method", "result")) for a in attempts if a.task_id == task.id
                ],
                "outcome": None
                if outcome is None
                else {
                    **_row(
                        outcome,
                        (
                            "informed_and_empowered",
                            "health_and_wellbeing",
                            "cope_and_recover",
                            "feeling_safer",
                            "baseline_score",
                            "exit_score",
                            "recorded_at",
                        ),
                    ),
                    "measures": {m.measure_code: m.result for m in measures if m.outcome_id == outcome.id},
                },
            }
        )
    return result


def _consent(consent: Consent, review: list[str], index: int) -> Json:
    withheld = None
    if consent.withheld_information is not None or consent.withheld_reason is not None:
        withheld = {
            "information": consent.withheld_information,
            "reason": consent.withheld_reason,
            "review_required": True,
        }
        review.append(f"consents[{index}].withheld")
    return {
        **_row(
            consent,
            (
                "id",
                "given_by",
                "method",
                "given_at",
                "recorded_at",
                "provider_slugs",
                "data_categories",
                "statistics_consent",
                "expires_at",
                "withdrawn_at",
            ),
        ),
        "withheld": withheld,
    }


async def subject_access_export(*, db: AsyncSession, actor: Principal, victim_id: int) -> Json:
    """Everything held about one victim and every disclosure of it; the export is itself logged."""
    require_officer(actor)
    victim = await load_controlled_victim(db, actor, victim_id)
    cases = await _all(db, select(Case).where(Case.victim_id == victim_id).order_by(col(Case.id)))
    referrals = await _all(db, select(Referral).where(Referral.victim_id == victim_id).order_by(col(Referral.id)))
    tasks = await _all(
        db, select(ReferralTask).where(ReferralTask.victim_id == victim_id).order_by(col(ReferralTask.id))
    )
    consents = await _all(db, select(Consent).where(Consent.victim_id == victim_id).order_by(col(Consent.id)))
    intake = await _all(db, select(SelfReferral).where(col(SelfReferral.referral_id).in_([r.id for r in referrals])))
    rj_cases = await _all(
        db, select(RjCase).where(col(RjCase.task_id).in_([t.id for t in tasks])).order_by(col(RjCase.id))
    )
    rectifications = await _all(
        db, select(Rectification).where(Rectification.victim_id == victim_id).order_by(col(Rectification.id))
    )
    holds = await _all(db, select(LegalHold).where(LegalHold.victim_id == victim_id).order_by(col(LegalHold.id)))
    review: list[str] = []
    export: Json = {
        "generated_at": _value(utc_now()),
        "victim_id": victim_id,
        "identity": _row(victim, VICTIM_FIELDS),
        "cases": [
            _row(
                c,
                (
                    "id",
                    "arrival_route",
                    "reported_to_police",
                    "crime_reference",
                    "crime_category",
                    "domestic_abuse_risk",
                    "priority_most_serious_crime",
                    "priority_persistently_targeted",
                    "priority_vulnerable_or_intimidated",
                    "needs",
                    "assessment_notes",
                    "created_at",
                ),
            )
            for c in cases
        ],
        "referrals": [_row(r, ("id", "reference", "created_at")) for r in referrals],
        "self_referrals": [
            _row(
                s,
                ("confirmation_reference", "received_at", "what_happened", "crime_category", "needs", "triaged_at"),
            )
            for s in intake
        ],
        "consents": [_consent(c, review, i) for i, c in enumerate(consents)],
        "tasks": await _tasks(db, tasks),
        "restorative_justice": [
            _row(c, ("reference", "stage", "created_at", "closed_at", "closure_reason")) for c in rj_cases
        ],
        "rectifications": [_row(r, ("fields", "rectified_at")) for r in rectifications],
        "legal_holds": [_row(h, ("placed_at", "lifted_at")) for h in holds],
        "disclosures": await _disclosures(db, victim, tasks),
    }
    export["review_required"] = review
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.CONSULTATION,
                action="subject-access.export",
                purpose=PURPOSE_SUBJECT_ACCESS,
                victim_id=victim_id,
                subject_ids={"victim": victim_id},
            )
        ],
    )
    return export
