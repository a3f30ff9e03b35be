"""Rules for outcomes: a provider completes its task only by recording what the support achieved.

The record covers the four Ministry of Justice measures, optional baseline and exit scores, and any of the
measures the provider's own profile declares. A task closed as failed needs no outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from gateway.idempotency.service import claim_idempotency_key, remember_result
from gateway.outcomes.models import MeasureResult, OutcomeMeasureResult, OutcomeRecord
from gateway.referrals.models import ALLOWED_TRANSITIONS, ReferralTask, TaskStatus
from gateway.referrals.service import PURPOSE_SUPPORT, complete_task, get_provider_task
from providers.profile import ProviderProfile
from providers.registry import get_profile

OPERATION = "task.complete-with-outcome"
# Scores are on the provider's own 0-100 scale; anything outside it is a typing slip, not a measurement.
MIN_SCORE, MAX_SCORE = 0, 100


@dataclass(frozen=True, slots=True)
class OutcomeRecordInput:
    """An outcome as the provider reports it; every Ministry of Justice measure must be answered."""

    informed_and_empowered: MeasureResult
    health_and_wellbeing: MeasureResult
    cope_and_recover: MeasureResult
    feeling_safer: MeasureResult
    provider_measures: tuple[tuple[str, MeasureResult], ...] = ()
    baseline_score: int | None = None
    exit_score: int | None = None


def validate_outcome(outcome: OutcomeRecordInput, *, profile: ProviderProfile) -> None:
    """Provider measures must be ones the profile declares, each once; scores stay on the 0-100 scale."""
    codes = [code for code, _ in outcome.provider_measures]
    declared = [m.code for m in profile.outcome_measures]
    unknown = sorted(set(codes) - set(declared))
    if unknown:
        allowed = ", ".join(declared) or "none"
        raise ValidationFailed(f"Unknown provider measure code; this provider reports: {allowed}.")
    if len(codes) != len(set(codes)):
        raise ValidationFailed("Each provider measure can be reported only once.")
    for score in (outcome.baseline_score, outcome.exit_score):
        if score is not None and not MIN_SCORE <= score <= MAX_SCORE:
            raise ValidationFailed(f"Scores must be between {MIN_SCORE} and {MAX_SCORE}.")


def _new_record(outcome: OutcomeRecordInput, *, task: ReferralTask, actor: Principal) -> OutcomeRecord:
    assert task.id is not None
    return OutcomeRecord(
        task_id=task.id,
        provider_organisation_id=task.provider_organisation_id,
        informed_and_empowered=MeasureResult(outcome.informed_and_empowered).value,
        health_and_wellbeing=MeasureResult(outcome.health_and_wellbeing).value,
        cope_and_recover=MeasureResult(outcome.cope_and_recover).value,
        feeling_safer=MeasureResult(outcome.feeling_safer).value,
        baseline_score=outcome.baseline_score,
        exit_score=outcome.exit_score,
        recorded_by=actor.actor_label,
    )


async def complete_task_with_outcome(
    *,
    db: AsyncSession,
    actor: Principal,
    task_id: int,
    expected_version: int,
    idempotency_key: str,
    outcome: OutcomeRecordInput,
) -> ReferralTask:
    """Only the addressed provider completes its task, recording the outcome in the same transaction."""
    if not (actor.has(Scope.TASKS_WRITE) and actor.has(Scope.OUTCOMES_WRITE)):
        raise Forbidden()
    claim = await claim_idempotency_key(
        db=db,
        organisation_id=actor.organisation_id,
        operation=OPERATION,
        key=idempotency_key,
        request={"task_id": task_id, "expected_version": expected_version, "outcome": outcome},
    )
    if claim.replayed_result_id is not None:
        return await get_provider_task(db=db, actor=actor, task_id=claim.replayed_result_id)
    task = await get_provider_task(db=db, actor=actor, task_id=task_id)
    # Checked before the outcome is written, so a finished task never gains a second record.
    if task.version != expected_version:
        raise Conflict()
    if TaskStatus.COMPLETED not in ALLOWED_TRANSITIONS[TaskStatus(task.status)]:
        raise InvalidTransition(f"A task cannot go from {task.status} to {TaskStatus.COMPLETED.value}.")
    profile = get_profile(task.provider_slug)
    assert profile is not None  # tasks are only ever made for registered providers
    validate_outcome(outcome, profile=profile)
    record = _new_record(outcome, task=task, actor=actor)
    db.add(record)
    await db.flush()
    assert record.id is not None
    db.add_all(
        OutcomeMeasureResult(outcome_id=record.id, measure_code=code, result=MeasureResult(result).value)
        for code, result in outcome.provider_measures
    )
    completed = await complete_task(
        db=db, actor=actor, task_id=task_id, expected_version=expected_version, idempotency_key=idempotency_key
    )
    await append_audit(
        db=db,
        actor=actor,
        records=[
            AuditRecord(
                category=AuditCategory.COLLECTION,
                action="outcome.record",
                purpose=PURPOSE_SUPPORT,
                victim_id=task.victim_id,
                subject_ids={"task": task.id, "outcome": record.id},
            )
        ],
    )
    await remember_result(db=db, claim=claim, result_id=task_id)
    return completed


async def get_outcome_for_task(*, db: AsyncSession, actor: Principal, task_id: int) -> OutcomeRecord | None:
    """The addressed provider reads the outcome it recorded on its own task; anyone else gets NotFound."""
    task = await get_provider_task(db=db, actor=actor, task_id=task_id)
    return (await db.exec(select(OutcomeRecord).where(col(OutcomeRecord.task_id) == task.id))).first()


async def provider_measures_of(*, db: AsyncSession, outcome_id: int) -> Mapping[str, MeasureResult]:
    """The provider-specific measures on one outcome record, by code."""
    rows = await db.exec(select(OutcomeMeasureResult).where(col(OutcomeMeasureResult.outcome_id) == outcome_id))
    return {row.measure_code: MeasureResult(row.result) for row in rows.all()}
