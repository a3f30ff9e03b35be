"""GraphQL inputs for completing a task with its outcome, and their conversion to the service's input value."""

from __future__ import annotations

import strawberry

from gateway.graphql.ids import choice
from gateway.outcomes.models import MeasureResult
from gateway.outcomes.service import OutcomeRecordInput

RESULT_HELP = "improved, not-improved, not-applicable or not-asked"


@strawberry.input(description="One provider-specific measure, by a code the provider's profile declares.")
class ProviderMeasureInput:
    code: str
    result: str = strawberry.field(description=RESULT_HELP)


@strawberry.input(description=f"What completed support achieved. Each Ministry of Justice measure is {RESULT_HELP}.")
class OutcomeInput:
    informed_and_empowered: str
    health_and_wellbeing: str
    cope_and_recover: str
    feeling_safer: str
    provider_measures: list[ProviderMeasureInput] = strawberry.field(default_factory=list)
    baseline_score: int | None = strawberry.field(default=None, description="0 to 100, on the provider's scale.")
    exit_score: int | None = strawberry.field(default=None, description="0 to 100, on the provider's scale.")


def outcome_record_input(outcome: OutcomeInput) -> OutcomeRecordInput:
    """The service's value for a GraphQL outcome; an unknown result code is a validation error."""

    def result(value: str) -> MeasureResult:
        return choice(MeasureResult, value, "outcome result")

    return OutcomeRecordInput(
        informed_and_empowered=result(outcome.informed_and_empowered),
        health_and_wellbeing=result(outcome.health_and_wellbeing),
        cope_and_recover=result(outcome.cope_and_recover),
        feeling_safer=result(outcome.feeling_safer),
        provider_measures=tuple((m.code, result(m.result)) for m in outcome.provider_measures),
        baseline_score=outcome.baseline_score,
        exit_score=outcome.exit_score,
    )


@strawberry.input
class CompleteTaskInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str
    outcome: OutcomeInput
