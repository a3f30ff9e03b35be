"""Rules for outcomes: a provider completes its task only by recording what the support achieved.

The record covers the four Ministry of Justice measures, optional baseline and exit scores, and any of the
measures the provider's own profile declares. Only a task with first contact recorded completes; one that never
reached the victim is failed as unable to contact and, like any failed task, needs no outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Unpack

from sqlmodel import col, select

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.errors import InvalidTransition, OutcomeRequired, ValidationFailed
from gateway.events.models import EventType
from gateway.idempotency.service import claim_for, remember_result
from gateway.kit import require
from gateway.outcomes.models import MeasureResult, OutcomeMeasureResult, OutcomeRecord
from gateway.referrals.models import ReferralTask, TaskStatus
from gateway.referrals.service import (
    PROVIDER,
    PURPOSE_SUPPORT,
    Move,
    TaskChange,
    check_can_move,
    get_provider_task,
    transition,
)
from providers.profile import ProviderProfile
from providers.registry import get_profile

OPERATION = "task.complete-with-outcome"
COMPLETE = Move("task.complete", PROVIDER, TaskStatus.COMPLETED, EventType.TASK_COMPLETED)
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


def require_first_contact(task: ReferralTask) -> None:
    """Only work that reached the victim completes; a task that never did is failed as unable to contact."""
    if task.first_contact_at is None:
        raise InvalidTransition(
            "A task with no first contact recorded cannot be completed: record the first contact, "
            "or fail the task as unable to contact."
        )


async def require_outcome_for_completion(db: AsyncSession, task: ReferralTask) -> None:
    """Completion requires first contact and the task's outcome record, written first in the same transaction."""
    require_first_contact(task)
    recorded = (await db.exec(select(OutcomeRecord.id).where(col(OutcomeRecord.task_id) == task.id))).first()
    if recorded is None:
        raise OutcomeRequired()


async def complete_task(**change: Unpack[TaskChange]) -> ReferralTask:
    """The provider completes work it has made first contact on, once the outcome requirement is met."""
    return await transition(COMPLETE, check=require_outcome_for_completion, **change)


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
    require(actor, Scope.TASKS_WRITE)
    require(actor, Scope.OUTCOMES_WRITE)
    claim = await claim_for(
        db=db,
        actor=actor,
        operation=OPERATION,
        key=idempotency_key,
        request={"task_id": task_id, "expected_version": expected_version, "outcome": outcome},
    )
    if claim.replayed_result_id is not None:
        return await get_provider_task(db=db, actor=actor, task_id=claim.replayed_result_id)
    task = await get_provider_task(db=db, actor=actor, task_id=task_id)
    # Checked before the outcome is written, so a finished task never gains a second record.
    check_can_move(task, expected_version, TaskStatus.COMPLETED)
    require_first_contact(task)
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


async def provider_measures_of(*, db: AsyncSession, outcome_id: int) -> Mapping[str, MeasureResult]:
    """The provider-specific measures on one outcome record, by code."""
    rows = await db.exec(select(OutcomeMeasureResult).where(col(OutcomeMeasureResult.outcome_id) == outcome_id))
    return {row.measure_code: MeasureResult(row.result) for row in rows.all()}
