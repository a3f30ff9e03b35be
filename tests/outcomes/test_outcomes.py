"""Completing a task needs an outcome record; failing one does not; only the addressed provider records it."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from sqlmodel import col, select

from gateway.audit.models import AuditEntry
from gateway.audit.service import TRAIL_ORDER
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import NotFound, OutcomeRequired, ValidationFailed
from gateway.outcomes.inputs import OutcomeInput, ProviderMeasureInput, outcome_record_input
from gateway.outcomes.models import MeasureResult, OutcomeMeasureResult, OutcomeRecord
from gateway.outcomes.service import (
    OutcomeRecordInput,
    complete_task,
    complete_task_with_outcome,
    provider_measures_of,
)
from gateway.referrals.models import FailReason, ReferralTask
from gateway.referrals.service import accept_task, fail_task, record_first_contact
from tests.support.domain import World, count, key, make_sent_task

OUTCOME = OutcomeRecordInput(
    informed_and_empowered=MeasureResult.IMPROVED,
    health_and_wellbeing=MeasureResult.NOT_IMPROVED,
    cope_and_recover=MeasureResult.NOT_APPLICABLE,
    feeling_safer=MeasureResult.NOT_ASKED,
    provider_measures=(("pathway-into-primary-care", MeasureResult.IMPROVED),),
    baseline_score=30,
    exit_score=70,
)


@dataclass(frozen=True)
class Seen:
    """A task's id and version as the provider saw them (rows expire when a test rolls back)."""

    id: int
    version: int


async def _accepted_cpn_task(db: AsyncSession, world: World, *, contacted: bool = True) -> Seen:
    """A CPN task the provider accepted and, unless told otherwise, made first contact on (so it is in progress)."""
    sent = await make_sent_task(db, world, "cpn")
    assert sent.id is not None
    cpn = world.caseworker("cpn")
    task = await accept_task(db=db, actor=cpn, task_id=sent.id, expected_version=sent.version, idempotency_key=key())
    if contacted:
        task = await record_first_contact(
            db=db,
            actor=cpn,
            task_id=sent.id,
            expected_version=task.version,
            contacted_at=utc_now(),
            idempotency_key=key(),
        )
    await db.commit()
    return Seen(sent.id, task.version)


async def test_completing_without_an_outcome_is_refused_and_changes_nothing(db: AsyncSession, world: World) -> None:
    # Given a task the provider accepted and made first contact on
    task = await _accepted_cpn_task(db, world)

    # When the provider completes it without recording an outcome
    with pytest.raises(OutcomeRequired) as refused:
        await complete_task(
            db=db, actor=world.caseworker("cpn"), task_id=task.id, expected_version=task.version, idempotency_key=key()
        )
    await db.rollback()

    # Then it is refused with the stable code and the task is still accepted
    assert refused.value.code == "outcome-required"
    reloaded = (await db.exec(select(ReferralTask).where(col(ReferralTask.id) == task.id))).one()
    assert (reloaded.status, reloaded.version) == ("in-progress", task.version)


async def test_completing_with_an_outcome_records_it_audits_it_and_closes_the_task(
    db: AsyncSession, world: World
) -> None:
    # Given a task the provider accepted and made first contact on
    task = await _accepted_cpn_task(db, world)
    audit_rows_before = await count(db, AuditEntry)

    # When the provider completes it with an outcome, twice with the same idempotency key
    repeat = key()
    done = await complete_task_with_outcome(
        db=db,
        actor=world.caseworker("cpn"),
        task_id=task.id,
        expected_version=task.version,
        idempotency_key=repeat,
        outcome=OUTCOME,
    )
    await db.commit()
    again = await complete_task_with_outcome(
        db=db,
        actor=world.caseworker("cpn"),
        task_id=task.id,
        expected_version=task.version,
        idempotency_key=repeat,
        outcome=OUTCOME,
    )

    # Then the task is completed once, with one record holding every answer, and both writes are audited
    assert (done.status, again.id, again.status) == ("completed", task.id, "completed")
    record = (await db.exec(select(OutcomeRecord).where(col(OutcomeRecord.task_id) == task.id))).one()
    assert (
        record.informed_and_empowered,
        record.health_and_wellbeing,
        record.cope_and_recover,
        record.feeling_safer,
        record.baseline_score,
        record.exit_score,
        record.provider_organisation_id,
    ) == ("improved", "not-improved", "not-applicable", "not-asked", 30, 70, world.org_id("cpn"))
    assert record.id is not None
    assert await provider_measures_of(db=db, outcome_id=record.id) == {"pathway-into-primary-care": "improved"}
    assert await count(db, OutcomeRecord) == 1
    actions = (await db.exec(select(AuditEntry.action).order_by(*TRAIL_ORDER).offset(audit_rows_before))).all()
    assert list(actions) == ["task.complete", "outcome.record"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"provider_measures": (("inquest-support", MeasureResult.IMPROVED),)}, "Unknown provider measure code"),
        (
            {
                "provider_measures": (
                    ("wellbeing-score-change", MeasureResult.IMPROVED),
                    ("wellbeing-score-change", MeasureResult.NOT_IMPROVED),
                )
            },
            "only once",
        ),
        ({"exit_score": 101}, "between 0 and 100"),
    ],
)
async def test_a_bad_outcome_is_a_validation_error_and_nothing_is_recorded(
    db: AsyncSession, world: World, change: dict[str, object], message: str
) -> None:
    # Given a CPN task the provider accepted and made first contact on
    task = await _accepted_cpn_task(db, world)

    # When the provider reports another provider's measure, one measure twice, or a score off the scale
    with pytest.raises(ValidationFailed) as refused:
        await complete_task_with_outcome(
            db=db,
            actor=world.caseworker("cpn"),
            task_id=task.id,
            expected_version=task.version,
            idempotency_key=key(),
            outcome=replace(OUTCOME, **change),  # type: ignore[arg-type]
        )
    await db.rollback()

    # Then it is a validation error and neither an outcome nor a completion happened
    assert refused.value.code == "validation" and message in refused.value.message
    assert await count(db, OutcomeRecord) == 0
    reloaded = (await db.exec(select(ReferralTask).where(col(ReferralTask.id) == task.id))).one()
    assert reloaded.status == "in-progress"


async def test_another_provider_cannot_complete_the_task_and_learns_nothing(db: AsyncSession, world: World) -> None:
    # Given a task addressed to the CPN
    task = await _accepted_cpn_task(db, world)

    # When the RJ hub tries to complete it, or to complete one that does not exist
    rj_hub = world.caseworker("rj-hub")
    for task_id in (task.id, task.id + 1000):
        with pytest.raises(NotFound) as refused:
            await complete_task_with_outcome(
                db=db,
                actor=rj_hub,
                task_id=task_id,
                expected_version=task.version,
                idempotency_key=key(),
                outcome=replace(OUTCOME, provider_measures=()),
            )
        await db.rollback()
        # Then both answers are the same not-found
        assert (refused.value.code, refused.value.message) == ("not-found", "Not found.")
    assert await count(db, OutcomeRecord) == 0


async def test_a_failed_task_needs_no_outcome(db: AsyncSession, world: World) -> None:
    # Given an accepted task the provider could not work: it never reached the victim
    task = await _accepted_cpn_task(db, world, contacted=False)

    # When it fails it as unable to contact
    failed = await fail_task(
        db=db,
        actor=world.caseworker("cpn"),
        task_id=task.id,
        expected_version=task.version,
        reason=FailReason.UNABLE_TO_CONTACT,
        idempotency_key=key(),
    )

    # Then it closes without any outcome record
    assert (failed.status, failed.status_reason) == ("failed", "unable-to-contact")
    assert await count(db, OutcomeRecord) == 0
    assert await count(db, OutcomeMeasureResult) == 0


def test_the_graphql_outcome_input_becomes_the_service_value() -> None:
    # An unknown result never gets here: MeasureResult is a GraphQL enum (tests/referrals/api/test_vocabularies.py).
    given = OutcomeInput(
        informed_and_empowered=MeasureResult.IMPROVED,
        health_and_wellbeing=MeasureResult.NOT_IMPROVED,
        cope_and_recover=MeasureResult.NOT_APPLICABLE,
        feeling_safer=MeasureResult.NOT_ASKED,
        provider_measures=[ProviderMeasureInput(code="pathway-into-primary-care", result=MeasureResult.IMPROVED)],
        baseline_score=30,
        exit_score=70,
    )

    assert outcome_record_input(given) == OUTCOME
