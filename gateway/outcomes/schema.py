"""Thin resolver for completing a task with its outcome against the Ministry of Justice measures."""

from __future__ import annotations

import strawberry

from gateway.auth.principal import Scope
from gateway.graphql.context import Info
from gateway.graphql.permissions import requires
from gateway.outcomes.inputs import CompleteTaskInput, outcome_record_input
from gateway.outcomes.service import complete_task_with_outcome
from gateway.referrals.schema import TaskResult, change_task


@strawberry.type
class OutcomeMutation:
    @strawberry.mutation(
        description="Complete the work, recording what it achieved against the Ministry of Justice measures.",
        permission_classes=[requires(Scope.TASKS_WRITE), requires(Scope.OUTCOMES_WRITE)],
    )
    async def complete_task(self, info: Info, input: CompleteTaskInput) -> TaskResult:
        return await change_task(
            info, complete_task_with_outcome, input, lambda: {"outcome": outcome_record_input(input.outcome)}
        )
