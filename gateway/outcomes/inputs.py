"""GraphQL inputs for completing a task with its outcome, and their conversion to the service's input value."""

from __future__ import annotations

import strawberry

from gateway.graphql.bounds import CODE, KEY, bounded
from gateway.outcomes.models import MeasureResult
from gateway.outcomes.service import OutcomeRecordInput

# The outcome results as a GraphQL enum, generated from the domain's StrEnum; registered here, the outcomes' one
# GraphQL module.
MeasureResultEnum = strawberry.enum(MeasureResult, name="MeasureResult", description="What a measure showed.")


@strawberry.input(description="One provider-specific measure, by a code the provider's profile declares.")
class ProviderMeasureInput:
    code: str = bounded(CODE, description="A code from the provider's `outcomeMeasures` in `providers`.")
    result: MeasureResult


@strawberry.input(description="What completed support achieved against the four Ministry of Justice measures.")
class OutcomeInput:
    informed_and_empowered: MeasureResult
    health_and_wellbeing: MeasureResult
    cope_and_recover: MeasureResult
    feeling_safer: MeasureResult
    provider_measures: list[ProviderMeasureInput] = strawberry.field(default_factory=list)
    baseline_score: int | None = strawberry.field(default=None, description="0 to 100, on the provider's scale.")
    exit_score: int | None = strawberry.field(default=None, description="0 to 100, on the provider's scale.")


def outcome_record_input(outcome: OutcomeInput) -> OutcomeRecordInput:
    """The service's value for a GraphQL outcome."""
    return OutcomeRecordInput(
        informed_and_empowered=outcome.informed_and_empowered,
        health_and_wellbeing=outcome.health_and_wellbeing,
        cope_and_recover=outcome.cope_and_recover,
        feeling_safer=outcome.feeling_safer,
        provider_measures=tuple((m.code, m.result) for m in outcome.provider_measures),
        baseline_score=outcome.baseline_score,
        exit_score=outcome.exit_score,
    )


@strawberry.input
class CompleteTaskInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str = bounded(KEY)
    outcome: OutcomeInput
