"""Thin resolvers for referrals: parse the input, call one service function, map the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any

import strawberry

from gateway.auth.principal import Principal, Scope
from gateway.consent import service as consent_service
from gateway.errors import DomainError
from gateway.graphql.context import Info
from gateway.graphql.permissions import requires, requires_any
from gateway.graphql.results import OperationError, perform
from gateway.outcomes.service import complete_task_with_outcome
from gateway.outcomes.types import OutcomeInput, outcome_record_input
from gateway.referrals import service
from gateway.referrals.inputs import (
    CreateReferralInput,
    ReasonedTaskChangeInput,
    RecordContactAttemptInput,
    RecordFirstContactInput,
    SendTaskInput,
    TaskChangeInput,
    TriageSelfReferralInput,
    WithdrawConsentInput,
    choice,
    optional_choice,
    record_id,
)
from gateway.referrals.models import (
    CancelReason,
    ContactMethod,
    ContactResult,
    FailReason,
    ReferralTask,
    RejectReason,
    TaskStatus,
)
from gateway.referrals.types import (
    ConsentType,
    ContactAttemptType,
    IntakeItemType,
    IntakePage,
    ReferralPage,
    ReferralType,
    TaskPage,
    TaskType,
    decode_cursor,
    encode_cursor,
)

MAX_PAGE_SIZE = 100


def _actor(info: Info) -> Principal:
    principal = info.context.principal
    assert principal is not None  # every field here declares a scope, so anonymous callers never reach it
    return principal


def _page_size(first: int) -> int:
    return max(1, min(first, MAX_PAGE_SIZE))


def _next_cursor(rows: Sequence[object], limit: int) -> str | None:
    return encode_cursor(int(rows[-1].id)) if len(rows) == limit and rows else None  # type: ignore[attr-defined]


@strawberry.input
class CompleteTaskInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str
    outcome: OutcomeInput


@strawberry.type
class ReferralPayload:
    referral: ReferralType


@strawberry.type
class TaskPayload:
    task: TaskType


@strawberry.type
class ContactAttemptPayload:
    contact_attempt: ContactAttemptType


@strawberry.type
class ConsentPayload:
    consent: ConsentType


@strawberry.type
class IntakePayload:
    intake_item: IntakeItemType


ReferralResult = Annotated[ReferralPayload | OperationError, strawberry.union("ReferralResult")]
TaskResult = Annotated[TaskPayload | OperationError, strawberry.union("TaskResult")]
ContactAttemptResult = Annotated[ContactAttemptPayload | OperationError, strawberry.union("ContactAttemptResult")]
ConsentResult = Annotated[ConsentPayload | OperationError, strawberry.union("ConsentResult")]
IntakeResult = Annotated[IntakePayload | OperationError, strawberry.union("IntakeResult")]


@strawberry.type
class ReferralQuery:
    @strawberry.field(description="One of the Hub's referrals.", permission_classes=[requires(Scope.REFERRALS_READ)])
    async def referral(self, info: Info, id: strawberry.ID) -> ReferralType | None:
        found = await perform(
            info,
            lambda: service.get_referral(db=info.context.db, actor=_actor(info), referral_id=record_id(id, "referral")),
        )
        return None if isinstance(found, OperationError) else ReferralType.from_row(found)

    @strawberry.field(
        description="The Hub's referrals, newest last.", permission_classes=[requires(Scope.REFERRALS_READ)]
    )
    async def referrals(self, info: Info, first: int = 20, after: str | None = None) -> ReferralPage:
        limit = _page_size(first)
        async with info.context.db_lock:
            rows = await service.list_referrals(
                db=info.context.db, actor=_actor(info), after_id=decode_cursor(after), limit=limit
            )
        return ReferralPage(items=[ReferralType.from_row(r) for r in rows], next_cursor=_next_cursor(rows, limit))

    @strawberry.field(
        description="A task: the Hub's own, or one addressed to the calling provider.",
        permission_classes=[requires_any(Scope.REFERRALS_READ, Scope.TASKS_READ)],
    )
    async def task(self, info: Info, id: strawberry.ID) -> TaskType | None:
        try:
            async with info.context.db_lock:
                found = await service.get_task(db=info.context.db, actor=_actor(info), task_id=record_id(id, "task"))
        except DomainError:
            return None  # missing and not-yours look the same
        return TaskType.from_row(found)

    @strawberry.field(
        description="The calling provider's tasks; filter by status or overdue.",
        permission_classes=[requires(Scope.TASKS_READ)],
    )
    async def inbox(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        status: list[str] | None = None,
        overdue_only: bool = False,
    ) -> TaskPage:
        limit = _page_size(first)
        statuses = [choice(TaskStatus, s, "task status") for s in status] if status else None
        async with info.context.db_lock:
            rows = await service.list_inbox(
                db=info.context.db,
                actor=_actor(info),
                statuses=statuses,
                overdue_only=overdue_only,
                after_id=decode_cursor(after),
                limit=limit,
            )
        return TaskPage(items=[TaskType.from_row(t) for t in rows], next_cursor=_next_cursor(rows, limit))

    @strawberry.field(
        description="Overdue tasks: across the Hub's referrals, or the calling provider's own.",
        permission_classes=[requires_any(Scope.REFERRALS_READ, Scope.TASKS_READ)],
    )
    async def overdue_tasks(self, info: Info, first: int = 20, after: str | None = None) -> TaskPage:
        limit = _page_size(first)
        async with info.context.db_lock:
            rows = await service.list_overdue_tasks(
                db=info.context.db, actor=_actor(info), after_id=decode_cursor(after), limit=limit
            )
        tasks = [o.task for o in rows]
        return TaskPage(items=[TaskType.from_row(t) for t in tasks], next_cursor=_next_cursor(tasks, limit))

    @strawberry.field(
        description="Self-referrals waiting for triage.", permission_classes=[requires(Scope.REFERRALS_READ)]
    )
    async def intake_queue(self, info: Info, first: int = 20, after: str | None = None) -> IntakePage:
        limit = _page_size(first)
        async with info.context.db_lock:
            rows = await service.list_intake_queue(
                db=info.context.db, actor=_actor(info), after_id=decode_cursor(after), limit=limit
            )
        return IntakePage(items=[IntakeItemType.from_row(r) for r in rows], next_cursor=_next_cursor(rows, limit))


async def _task_change(info: Info, change: object) -> TaskResult:
    result = await perform(info, change)  # type: ignore[arg-type]
    return result if isinstance(result, OperationError) else TaskPayload(task=TaskType.from_row(result))


TaskTransition = Callable[..., Awaitable[ReferralTask]]


def _transition(change: TaskTransition, scope: Scope, description: str | None = None) -> Any:
    """A mutation for a plain transition: the task, the version the caller saw, and an idempotency key."""

    async def resolve(self: object, info: Info, input: TaskChangeInput) -> TaskResult:
        return await _task_change(
            info,
            lambda: change(
                db=info.context.db,
                actor=_actor(info),
                task_id=record_id(input.task_id, "task"),
                expected_version=input.expected_version,
                idempotency_key=input.idempotency_key,
            ),
        )

    return strawberry.mutation(resolver=resolve, description=description, permission_classes=[requires(scope)])


def _reasoned_transition(
    change: TaskTransition, reasons: type[StrEnum], what: str, scope: Scope, description: str | None = None
) -> Any:
    """A mutation for a transition that needs a reason code from `reasons`."""

    async def resolve(self: object, info: Info, input: ReasonedTaskChangeInput) -> TaskResult:
        return await _task_change(
            info,
            lambda: change(
                db=info.context.db,
                actor=_actor(info),
                task_id=record_id(input.task_id, "task"),
                expected_version=input.expected_version,
                reason=choice(reasons, input.reason, what),
                idempotency_key=input.idempotency_key,
            ),
        )

    return strawberry.mutation(resolver=resolve, description=description, permission_classes=[requires(scope)])


@strawberry.type
class ReferralMutation:
    cancel_task = _reasoned_transition(
        service.cancel_task,
        CancelReason,
        "cancel reason",
        Scope.REFERRALS_WRITE,
        "The Hub cancels a task, with a reason.",
    )
    accept_task = _transition(
        service.accept_task, Scope.TASKS_WRITE, "The addressed provider accepts a requested task."
    )
    reject_task = _reasoned_transition(
        service.reject_task, RejectReason, "reject reason", Scope.TASKS_WRITE, "The provider rejects, with a reason."
    )
    hold_task = _transition(service.hold_task, Scope.TASKS_WRITE, "Pause work in progress.")
    resume_task = _transition(service.resume_task, Scope.TASKS_WRITE, "Resume work on hold.")
    fail_task = _reasoned_transition(
        service.fail_task, FailReason, "fail reason", Scope.TASKS_WRITE, "Close the work as failed, with a reason."
    )

    # -- the Hub ------------------------------------------------------------------------------------------

    @strawberry.mutation(
        description="Create a referral with its victim, case, consents and one draft task per provider.",
        permission_classes=[requires(Scope.REFERRALS_WRITE)],
    )
    async def create_referral(self, info: Info, input: CreateReferralInput) -> ReferralResult:
        async def create() -> ReferralPayload:
            referral = await service.create_referral(
                db=info.context.db,
                actor=_actor(info),
                victim=input.victim.values(),
                case=input.case.values(),
                consents=[c.values() for c in input.consents],
                provider_slugs=input.providers,
                idempotency_key=input.idempotency_key,
            )
            return ReferralPayload(referral=ReferralType.from_row(referral))

        return await perform(info, create)

    @strawberry.mutation(
        description="Send a draft task to its provider; needs valid consent covering it, or a safeguarding override.",
        permission_classes=[requires(Scope.REFERRALS_WRITE)],
    )
    async def send_task(self, info: Info, input: SendTaskInput) -> TaskResult:
        return await _task_change(
            info,
            lambda: service.send_task(
                db=info.context.db,
                actor=_actor(info),
                task_id=record_id(input.task_id, "task"),
                expected_version=input.expected_version,
                idempotency_key=input.idempotency_key,
                safeguarding_justification=input.safeguarding_justification,
            ),
        )

    @strawberry.mutation(
        description="Withdraw a consent: the providers it covered lose the victim's data at once.",
        permission_classes=[requires(Scope.REFERRALS_WRITE)],
    )
    async def withdraw_consent(self, info: Info, input: WithdrawConsentInput) -> ConsentResult:
        async def withdraw() -> ConsentPayload:
            consent = await consent_service.withdraw_consent(
                db=info.context.db,
                actor=_actor(info),
                consent_id=record_id(input.consent_id, "consent"),
                idempotency_key=input.idempotency_key,
            )
            return ConsentPayload(consent=ConsentType.from_row(consent))

        return await perform(info, withdraw)

    @strawberry.mutation(permission_classes=[requires(Scope.REFERRALS_WRITE)])
    async def triage_self_referral(self, info: Info, input: TriageSelfReferralInput) -> IntakeResult:
        async def triage() -> IntakePayload:
            item = await service.triage_self_referral(
                db=info.context.db,
                actor=_actor(info),
                self_referral_id=record_id(input.intake_id, "intake item"),
                idempotency_key=input.idempotency_key,
                case=input.case.values() if input.case else None,
                guardian=input.guardian.values() if input.guardian else None,
                close_reason=optional_choice(service.IntakeCloseReason, input.close_reason, "close reason"),
            )
            return IntakePayload(intake_item=IntakeItemType.from_row(item))

        return await perform(info, triage)

    # -- the provider -------------------------------------------------------------------------------------

    @strawberry.mutation(permission_classes=[requires(Scope.TASKS_WRITE)])
    async def record_contact_attempt(self, info: Info, input: RecordContactAttemptInput) -> ContactAttemptResult:
        async def record() -> ContactAttemptPayload:
            attempt = await service.record_contact_attempt(
                db=info.context.db,
                actor=_actor(info),
                task_id=record_id(input.task_id, "task"),
                attempted_at=input.attempted_at,
                method=choice(ContactMethod, input.method, "contact method"),
                result=choice(ContactResult, input.result, "contact result"),
                idempotency_key=input.idempotency_key,
            )
            return ContactAttemptPayload(contact_attempt=ContactAttemptType.from_row(attempt))

        return await perform(info, record)

    @strawberry.mutation(permission_classes=[requires(Scope.TASKS_WRITE)])
    async def record_first_contact(self, info: Info, input: RecordFirstContactInput) -> TaskResult:
        return await _task_change(
            info,
            lambda: service.record_first_contact(
                db=info.context.db,
                actor=_actor(info),
                task_id=record_id(input.task_id, "task"),
                expected_version=input.expected_version,
                contacted_at=input.contacted_at,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="Complete the work, recording what it achieved against the Ministry of Justice measures.",
        permission_classes=[requires(Scope.TASKS_WRITE), requires(Scope.OUTCOMES_WRITE)],
    )
    async def complete_task(self, info: Info, input: CompleteTaskInput) -> TaskResult:
        return await _task_change(
            info,
            lambda: complete_task_with_outcome(
                db=info.context.db,
                actor=_actor(info),
                task_id=record_id(input.task_id, "task"),
                expected_version=input.expected_version,
                idempotency_key=input.idempotency_key,
                outcome=outcome_record_input(input.outcome),
            ),
        )
