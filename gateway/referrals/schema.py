"""Thin resolvers for referrals: parse the input, call one service function, map the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypeVar

import strawberry

from gateway.auth.principal import Scope
from gateway.consent.inputs import WithdrawConsentInput
from gateway.consent.schema import ConsentPayload, ConsentResult
from gateway.consent.types import ConsentType
from gateway.db import AsyncSession
from gateway.errors import DomainError
from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.graphql.pagination import HasId, decode_cursor, next_cursor, page_size
from gateway.graphql.permissions import requires, requires_any
from gateway.graphql.results import OperationError, perform
from gateway.referrals import service
from gateway.referrals.inputs import (
    AddReferralTaskInput,
    CancelTaskInput,
    CreateReferralInput,
    FailTaskInput,
    RecordConsentInput,
    RecordContactAttemptInput,
    RecordFirstContactInput,
    RejectTaskInput,
    SendTaskInput,
    TaskChangeInput,
    TriageSelfReferralInput,
)
from gateway.referrals.models import ReferralTask
from gateway.referrals.types import (
    ContactAttemptType,
    IntakeItemType,
    IntakePage,
    ReferralPage,
    ReferralType,
    TaskPage,
    TaskType,
)
from gateway.referrals.vocabularies import TaskStatus

R = TypeVar("R")
P = TypeVar("P")
Row = TypeVar("Row", bound=HasId)


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
class IntakePayload:
    intake_item: IntakeItemType


ReferralResult = Annotated[ReferralPayload | OperationError, strawberry.union("ReferralResult")]
TaskResult = Annotated[TaskPayload | OperationError, strawberry.union("TaskResult")]
ContactAttemptResult = Annotated[ContactAttemptPayload | OperationError, strawberry.union("ContactAttemptResult")]
IntakeResult = Annotated[IntakePayload | OperationError, strawberry.union("IntakeResult")]


async def _answer(
    info: Info, payload: Callable[[R], P], call: Callable[[AsyncSession], Awaitable[R]]
) -> P | OperationError:
    """The mutation's one transaction around the service call, its result shown as `payload`."""

    async def run(db: AsyncSession) -> P:
        return payload(await call(db))

    return await perform(info, run)


async def _page(
    info: Info, read: Callable[..., Awaitable[Sequence[Row]]], first: int, after: str | None, **filters: Any
) -> tuple[Sequence[Row], str | None]:
    """One page of the rows `read` lets the caller see, and the cursor that continues it."""
    limit = page_size(first)
    after_id = decode_cursor(after)
    rows = await info.context.session.run(
        lambda db: read(db=db, actor=caller(info), after_id=after_id, limit=limit, **filters)
    )
    return rows, next_cursor(rows, limit)


async def _overdue_tasks(**arguments: Any) -> list[ReferralTask]:
    return [overdue.task for overdue in await service.list_overdue_tasks(**arguments)]


@strawberry.type
class ReferralQuery:
    @strawberry.field(description="One of the Hub's referrals.", permission_classes=[requires(Scope.REFERRALS_READ)])
    async def referral(self, info: Info, id: strawberry.ID) -> ReferralType | None:
        try:
            found = await info.context.session.run(
                lambda db: service.get_referral(db=db, actor=caller(info), referral_id=record_id(id, "referral"))
            )
        except DomainError:
            return None  # missing and not-yours look the same
        return ReferralType.from_row(found)

    @strawberry.field(
        description="The Hub's referrals, newest last.", permission_classes=[requires(Scope.REFERRALS_READ)]
    )
    async def referrals(self, info: Info, first: int = 20, after: str | None = None) -> ReferralPage:
        rows, cursor = await _page(info, service.list_referrals, first, after)
        return ReferralPage(items=[ReferralType.from_row(r) for r in rows], next_cursor=cursor)

    @strawberry.field(
        description="A task: the Hub's own, or one addressed to the calling provider.",
        permission_classes=[requires_any(Scope.REFERRALS_READ, Scope.TASKS_READ)],
    )
    async def task(self, info: Info, id: strawberry.ID) -> TaskType | None:
        try:
            found = await info.context.session.run(
                lambda db: service.get_task(db=db, actor=caller(info), task_id=record_id(id, "task"))
            )
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
        status: list[TaskStatus] | None = None,
        overdue_only: bool = False,
    ) -> TaskPage:
        statuses = list(status) if status else None
        rows, cursor = await _page(info, service.list_inbox, first, after, statuses=statuses, overdue_only=overdue_only)
        return TaskPage(items=[TaskType.from_row(t) for t in rows], next_cursor=cursor)

    @strawberry.field(
        description="Overdue tasks: across the Hub's referrals, or the calling provider's own.",
        permission_classes=[requires_any(Scope.REFERRALS_READ, Scope.TASKS_READ)],
    )
    async def overdue_tasks(self, info: Info, first: int = 20, after: str | None = None) -> TaskPage:
        rows, cursor = await _page(info, _overdue_tasks, first, after)
        return TaskPage(items=[TaskType.from_row(t) for t in rows], next_cursor=cursor)

    @strawberry.field(
        description="Self-referrals waiting for triage.", permission_classes=[requires(Scope.REFERRALS_READ)]
    )
    async def intake_queue(self, info: Info, first: int = 20, after: str | None = None) -> IntakePage:
        rows, cursor = await _page(info, service.list_intake_queue, first, after)
        return IntakePage(items=[IntakeItemType.from_row(r) for r in rows], next_cursor=cursor)


class TaskVersion(Protocol):
    """What every change to a task carries: the task, the version the caller saw, and the retry key."""

    @property
    def task_id(self) -> strawberry.ID: ...
    @property
    def expected_version(self) -> int: ...
    @property
    def idempotency_key(self) -> str: ...


TaskChange = Callable[..., Awaitable[ReferralTask]]


def _task_payload(task: ReferralTask) -> TaskPayload:
    return TaskPayload(task=TaskType.from_row(task))


async def change_task(
    info: Info, change: TaskChange, input: TaskVersion, details: Callable[[], dict[str, Any]] = dict
) -> TaskResult:
    """A change to a task as a mutation; `details`, its own arguments, are parsed inside the transaction."""
    # Parsed there, a bad code or id becomes a refusal (an OperationError) like any other, and nothing changes.
    return await _answer(
        info,
        _task_payload,
        lambda db: change(
            db=db,
            actor=caller(info),
            task_id=record_id(input.task_id, "task"),
            expected_version=input.expected_version,
            idempotency_key=input.idempotency_key,
            **details(),
        ),
    )


def _transition(change: TaskChange, scope: Scope, description: str) -> Any:
    """A mutation for a plain transition: the task, the version the caller saw, and an idempotency key."""

    async def resolve(self: object, info: Info, input: TaskChangeInput) -> TaskResult:
        return await change_task(info, change, input)

    return strawberry.mutation(resolver=resolve, description=description, permission_classes=[requires(scope)])


class ReasonedChange(TaskVersion, Protocol):
    @property
    def reason(self) -> StrEnum: ...


def _reasoned_transition(change: TaskChange, input_type: type, scope: Scope, description: str) -> Any:
    """A mutation for a transition that needs a reason code: `input_type`'s `reason`, an enum of its own."""

    async def resolve(self: object, info: Info, input: ReasonedChange) -> TaskResult:
        return await change_task(info, change, input, lambda: {"reason": input.reason})

    # Each transition takes its own input type (so its own reason enum); Strawberry reads the type from here.
    resolve.__annotations__ = {**resolve.__annotations__, "input": input_type}
    return strawberry.mutation(resolver=resolve, description=description, permission_classes=[requires(scope)])


@strawberry.type
class ReferralMutation:
    cancel_task = _reasoned_transition(
        service.cancel_task, CancelTaskInput, Scope.REFERRALS_WRITE, "The Hub cancels a task, with a reason."
    )
    accept_task = _transition(
        service.accept_task, Scope.TASKS_WRITE, "The addressed provider accepts a requested task."
    )
    reject_task = _reasoned_transition(
        service.reject_task, RejectTaskInput, Scope.TASKS_WRITE, "The provider rejects, with a reason."
    )
    hold_task = _transition(service.hold_task, Scope.TASKS_WRITE, "Pause work in progress.")
    resume_task = _transition(service.resume_task, Scope.TASKS_WRITE, "Resume work on hold.")
    fail_task = _reasoned_transition(
        service.fail_task, FailTaskInput, Scope.TASKS_WRITE, "Close the work as failed, with a reason."
    )

    # -- the Hub ------------------------------------------------------------------------------------------

    @strawberry.mutation(
        description="Create a referral with its victim, case, consents and one draft task per provider.",
        permission_classes=[requires(Scope.REFERRALS_WRITE)],
    )
    async def create_referral(self, info: Info, input: CreateReferralInput) -> ReferralResult:
        return await _answer(
            info,
            lambda referral: ReferralPayload(referral=ReferralType.from_row(referral)),
            lambda db: service.create_referral(
                db=db,
                actor=caller(info),
                victim=input.victim.values(),
                case=input.case.values(),
                consents=[c.values() for c in input.consents],
                provider_slugs=input.providers,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="Send a draft task to its provider; needs valid consent covering it, or a safeguarding override.",
        permission_classes=[requires(Scope.REFERRALS_WRITE)],
    )
    async def send_task(self, info: Info, input: SendTaskInput) -> TaskResult:
        return await change_task(
            info,
            service.send_task,
            input,
            lambda: {"safeguarding_justification": input.safeguarding_justification},
        )

    @strawberry.mutation(
        description="Withdraw a consent: the providers it covered lose the victim's data at once.",
        permission_classes=[requires(Scope.REFERRALS_WRITE)],
    )
    async def withdraw_consent(self, info: Info, input: WithdrawConsentInput) -> ConsentResult:
        return await _answer(
            info,
            lambda consent: ConsentPayload(consent=ConsentType.from_row(consent)),
            lambda db: service.withdraw_consent(
                db=db,
                actor=caller(info),
                consent_id=record_id(input.consent_id, "consent"),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description=(
            "Triage a self-referral: make it a referral, with the consents given and a draft task per provider they"
            " cover, or close it with a reason."
        ),
        permission_classes=[requires(Scope.REFERRALS_WRITE)],
    )
    async def triage_self_referral(self, info: Info, input: TriageSelfReferralInput) -> IntakeResult:
        return await _answer(
            info,
            lambda item: IntakePayload(intake_item=IntakeItemType.from_row(item)),
            lambda db: service.triage_self_referral(
                db=db,
                actor=caller(info),
                self_referral_id=record_id(input.intake_id, "intake item"),
                idempotency_key=input.idempotency_key,
                referral=input.referral(),
                close_reason=input.close_reason,
            ),
        )

    @strawberry.mutation(
        description="Add a draft task for another provider to a referral; a standing consent must cover it.",
        permission_classes=[requires(Scope.REFERRALS_WRITE)],
    )
    async def add_referral_task(self, info: Info, input: AddReferralTaskInput) -> TaskResult:
        return await _answer(
            info,
            _task_payload,
            lambda db: service.add_referral_task(
                db=db,
                actor=caller(info),
                referral_id=record_id(input.referral_id, "referral"),
                provider_slug=input.provider,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="Record a consent given by, or for, the victim of a referral.",
        permission_classes=[requires(Scope.REFERRALS_WRITE)],
    )
    async def record_consent(self, info: Info, input: RecordConsentInput) -> ConsentResult:
        return await _answer(
            info,
            ConsentPayload.of,
            lambda db: service.record_referral_consent(
                db=db,
                actor=caller(info),
                referral_id=record_id(input.referral_id, "referral"),
                consent=input.consent.values(),
                idempotency_key=input.idempotency_key,
            ),
        )

    # -- the provider -------------------------------------------------------------------------------------

    @strawberry.mutation(permission_classes=[requires(Scope.TASKS_WRITE)])
    async def record_contact_attempt(self, info: Info, input: RecordContactAttemptInput) -> ContactAttemptResult:
        return await _answer(
            info,
            lambda attempt: ContactAttemptPayload(contact_attempt=ContactAttemptType.from_row(attempt)),
            lambda db: service.record_contact_attempt(
                db=db,
                actor=caller(info),
                task_id=record_id(input.task_id, "task"),
                attempted_at=input.attempted_at,
                method=input.method,
                result=input.result,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[requires(Scope.TASKS_WRITE)])
    async def record_first_contact(self, info: Info, input: RecordFirstContactInput) -> TaskResult:
        return await change_task(
            info, service.record_first_contact, input, lambda: {"contacted_at": input.contacted_at}
        )
