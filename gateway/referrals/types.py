"""GraphQL shapes for referrals and tasks. Built from rows and views; personal data only through loaders."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.types.nodes import SelectedField, Selection
from strawberry.utils.str_converters import to_camel_case

from gateway.auth.principal import Scope
from gateway.consent.loaders import ConsentLoaders
from gateway.consent.types import ConsentType, TaskConsentType
from gateway.errors import DomainError
from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.permissions import requires
from gateway.referrals import service
from gateway.referrals.loaders import ReferralLoaders
from gateway.referrals.models import Case, ContactAttempt, Referral, ReferralTask, SelfReferral
from gateway.referrals.vocabularies import (
    ArrivalRoute,
    ContactMethod,
    ContactResult,
    DomesticAbuseRisk,
    IntakeStatus,
    OverdueReason,
    TaskStatus,
)
from gateway.victims.loaders import VictimLoaders
from gateway.victims.types import Guardian, HubVictimType, SafeContact
from providers.profile import CrimeCategory, Need, VictimField

log = logging.getLogger("gateway.graphql")


# -- what a provider sees of a victim ----------------------------------------------------------------------


@strawberry.type
class PriorityFlags:
    most_serious_crime: bool
    persistently_targeted: bool
    vulnerable_or_intimidated: bool


@strawberry.type(
    name="ProviderVictim",
    description="The victim as this provider may see them: only its profile's fields, or nothing with the reason.",
)
class ProviderVictimType:
    # Resolvers return the service's ProviderVictimView itself, whose attributes these fields read: a page of
    # victims is shown without copying each view into a second object first.
    redacted: bool
    redaction_reason: str | None
    shared_under_safeguarding_override: bool
    field_names: list[VictimField] = strawberry.field(
        name="fields", description="The fields this provider may receive."
    )
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    age: int | None
    address: str | None
    postcode: str | None
    phone: str | None
    email: str | None
    safe_contact: SafeContact | None
    guardian: Guardian | None
    language: str | None
    interpreter_needed: bool | None
    crime_category: CrimeCategory | None
    crime_reference: str | None
    domestic_abuse_risk: DomesticAbuseRisk | None
    priority_flags: PriorityFlags | None
    needs: list[Need] | None
    assessment_notes: str | None


@strawberry.type(name="ContactAttempt")
class ContactAttemptType:
    # Lists of attempts are the service's rows themselves (these attribute names); from_row serves one ORM row.
    id: strawberry.ID
    attempted_at: datetime
    method: ContactMethod
    result: ContactResult

    @classmethod
    def from_row(cls, row: ContactAttempt) -> ContactAttemptType:
        return cls(
            id=strawberry.ID(str(row.id)),
            attempted_at=row.attempted_at,
            method=ContactMethod(row.method),
            result=ContactResult(row.result),
        )


# -- tasks -------------------------------------------------------------------------------------------------


@strawberry.type(name="Task", description="One provider's part of a referral. Both the Hub and that provider see it.")
class TaskType:
    id: strawberry.ID
    reference: str
    provider: str = strawberry.field(description="The provider's slug.")
    status: TaskStatus
    status_reason: str | None = strawberry.field(
        description="The RejectReason, CancelReason or FailReason code given, as its value (e.g. no-capacity)."
    )
    version: int = strawberry.field(description="Send it back with a transition; a stale one gets `conflict`.")
    replaces_task_id: strawberry.ID | None
    safeguarding_override: bool = strawberry.field(description="Sent without consent under a safeguarding override.")
    requested_at: datetime | None
    accept_due_at: datetime | None
    first_contact_due_at: datetime | None
    accepted_at: datetime | None
    viewed_at: datetime | None
    first_contact_at: datetime | None
    appointment_at: datetime | None
    waitlisted: bool
    closed_at: datetime | None
    overdue: list[OverdueReason] = strawberry.field(description="The targets this task has missed, or empty.")
    # Relations a page loaded for all its tasks at once (PrefetchTaskRelations), by GraphQL field name.
    prefetched: strawberry.Private[dict[str, Any] | None] = None

    @classmethod
    def from_row(cls, row: ReferralTask) -> TaskType:
        return cls(
            id=strawberry.ID(str(row.id)),
            reference=row.reference,
            provider=row.provider_slug,
            status=TaskStatus(row.status),
            status_reason=row.status_reason,
            version=row.version,
            replaces_task_id=strawberry.ID(str(row.replaces_task_id)) if row.replaces_task_id else None,
            safeguarding_override=row.safeguarding_override,
            requested_at=row.requested_at,
            accept_due_at=row.accept_due_at,
            first_contact_due_at=row.first_contact_due_at,
            accepted_at=row.accepted_at,
            viewed_at=row.viewed_at,
            first_contact_at=row.first_contact_at,
            appointment_at=row.appointment_at,
            waitlisted=row.waitlisted,
            closed_at=row.closed_at,
            overdue=list(service.overdue_reasons(row)),
        )

    # Relations resolve synchronously from what the page prefetched, or else through the request's dataloaders.
    # Plain `def`s returning a value or an awaitable: graphql-core awaits only when there is something to await.

    @strawberry.field(
        description="The victim, minimised to this provider's profile.",
        permission_classes=[requires(Scope.TASKS_READ)],
        graphql_type=ProviderVictimType | None,
    )
    def victim(self, info: Info) -> Any:
        if self.prefetched is not None and "victim" in self.prefetched:
            return self.prefetched["victim"]
        victims = [field for field in info.selected_fields if isinstance(field, SelectedField)]
        return info.context.loaders(ReferralLoaders).victim_views(wanted_victim_fields(victims)).load(int(self.id))

    @strawberry.field(permission_classes=[requires(Scope.TASKS_READ)], graphql_type=TaskConsentType | None)
    def consent(self, info: Info) -> Any:
        if self.prefetched is not None and "consent" in self.prefetched:
            return self.prefetched["consent"]
        return info.context.loaders(ReferralLoaders).consent_summaries.load(int(self.id))

    @strawberry.field(permission_classes=[requires(Scope.TASKS_READ)], graphql_type=list[ContactAttemptType])
    def contact_attempts(self, info: Info) -> Any:
        if self.prefetched is not None and "contactAttempts" in self.prefetched:
            return self.prefetched["contactAttempts"]
        return info.context.loaders(ReferralLoaders).contact_attempts.load(int(self.id))


def _victim_attribute_names() -> dict[str, str]:
    definition = ProviderVictimType.__strawberry_definition__  # type: ignore[attr-defined]
    return {field.graphql_name or to_camel_case(field.python_name): field.python_name for field in definition.fields}


_VICTIM_ATTRIBUTES = _victim_attribute_names()


def _every_field(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    """Every field selected at this level, through fragments, whatever their directives: reading a field a
    directive then skips costs a column, while missing one would show an allowed field as empty."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _every_field(selection.selections)


def wanted_victim_fields(victim_selections: Iterable[SelectedField]) -> frozenset[VictimField] | None:
    """The victim fields a query's `victim { ... }` selections ask for; None (read all allowed) when unsure."""
    attributes = []
    for selection in victim_selections:
        for field in _every_field(selection.selections):
            if field.name.startswith("__"):
                continue  # __typename
            attribute = _VICTIM_ATTRIBUTES.get(field.name)
            if attribute is None:
                return None
            attributes.append(attribute)
    return service.victim_fields_for_attributes(attributes)


def _loader_for(info: Info, relation: str, task_selections: list[Selection]) -> Any:
    loaders = info.context.loaders(ReferralLoaders)
    if relation == "victim":
        # Every `victim` of the page's tasks answers from what is prefetched, so read what all of them select,
        # including those a directive may skip.
        victims = [field for field in _every_field(task_selections) if field.name == "victim"]
        return loaders.victim_views(wanted_victim_fields(victims) if victims else None)
    if relation == "consent":
        return loaders.consent_summaries
    return loaders.contact_attempts


# The relations a page can prefetch, all behind the same scope as the Task fields that show them.
PREFETCHABLE = ("victim", "consent", "contactAttempts")


def _selected(selections: Iterable[Selection], found: set[str]) -> set[str]:
    for selection in selections:
        if selection.directives:
            continue  # @skip/@include decide per item at execution; those fields load lazily, as before
        if isinstance(selection, SelectedField):
            found.add(selection.name)
        else:
            _selected(selection.selections, found)
    return found


class PrefetchTaskRelations(FieldExtension):
    """Loads each selected relation of a page of tasks in one batch, before the page's items resolve.

    The same dataloaders, so the same authorised service calls and audit rows; but the items then answer from
    memory, instead of every item awaiting the loader for every relation (an awaitable and a task per field).
    Only fields the query selects are loaded, and only for a caller holding the scope those fields require.
    """

    def resolve(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        tasks: list[TaskType] = next_(source, info, **kwargs)
        principal = info.context.principal
        if not tasks or principal is None or not principal.has(Scope.TASKS_READ):
            return tasks
        task_selections = _children(info.selected_fields)
        wanted = [r for r in PREFETCHABLE if r in _selected(task_selections, set())]
        return self._prefetch(tasks, wanted, info, task_selections) if wanted else tasks

    @staticmethod
    async def _prefetch(
        tasks: list[TaskType], wanted: list[str], info: Info, task_selections: list[Selection]
    ) -> list[TaskType]:
        keys = [int(task.id) for task in tasks]
        for relation in wanted:
            try:
                values = await _loader_for(info, relation, task_selections).load_many(keys)
            except Exception:
                # Each item then loads lazily and fails through the loader with this same cached error, as before.
                log.debug("prefetching %s failed", relation)
                continue
            for task, value in zip(tasks, values, strict=True):
                if task.prefetched is None:
                    task.prefetched = {}
                task.prefetched[relation] = value
        return tasks


def _children(fields: list[Selection]) -> list[Selection]:
    return [child for field in fields for child in field.selections]


@strawberry.type
class TaskPage:
    items: list[TaskType] = strawberry.field(extensions=[PrefetchTaskRelations()])
    next_cursor: str | None = strawberry.field(description="Pass as `after` for the next page; null at the end.")


# -- the Hub's view --------------------------------------------------------------------------------------


@strawberry.type(name="Case", description="The case behind a referral, as the Hub recorded it.")
class CaseType:
    arrival_route: ArrivalRoute
    reported_to_police: bool
    crime_reference: str | None
    crime_category: CrimeCategory
    domestic_abuse_risk: DomesticAbuseRisk
    priority_flags: PriorityFlags
    needs: list[Need]
    assessment_notes: str | None

    @classmethod
    def from_row(cls, row: Case) -> CaseType:
        return cls(
            arrival_route=ArrivalRoute(row.arrival_route),
            reported_to_police=row.reported_to_police,
            crime_reference=row.crime_reference,
            crime_category=CrimeCategory(row.crime_category),
            domestic_abuse_risk=DomesticAbuseRisk(row.domestic_abuse_risk),
            priority_flags=PriorityFlags(
                most_serious_crime=row.priority_most_serious_crime,
                persistently_targeted=row.priority_persistently_targeted,
                vulnerable_or_intimidated=row.priority_vulnerable_or_intimidated,
            ),
            needs=[Need(n) for n in row.needs],
            assessment_notes=row.assessment_notes,
        )


@strawberry.type(name="Referral", description="A referral owned by the Hub: one task per provider.")
class ReferralType:
    id: strawberry.ID
    reference: str
    created_at: datetime
    victim_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Referral) -> ReferralType:
        return cls(
            id=strawberry.ID(str(row.id)), reference=row.reference, created_at=row.created_at, victim_id=row.victim_id
        )

    @strawberry.field(permission_classes=[requires(Scope.REFERRALS_READ)])
    async def tasks(self, info: Info) -> list[TaskType]:
        tasks = await info.context.loaders(ReferralLoaders).referral_tasks.load(int(self.id))
        return [TaskType.from_row(t) for t in tasks]

    @strawberry.field(name="case", permission_classes=[requires(Scope.REFERRALS_READ)])
    async def case_(self, info: Info) -> CaseType | None:
        case = await info.context.loaders(ReferralLoaders).referral_cases.load(int(self.id))
        return CaseType.from_row(case) if case is not None else None

    @strawberry.field(permission_classes=[requires(Scope.REFERRALS_READ)])
    async def victim(self, info: Info) -> HubVictimType | None:
        victim = await info.context.loaders(VictimLoaders).victims.load(self.victim_id)
        return HubVictimType.from_row(victim) if victim is not None else None

    @strawberry.field(permission_classes=[requires(Scope.REFERRALS_READ)])
    async def consents(self, info: Info) -> list[ConsentType]:
        consents = await info.context.loaders(ConsentLoaders).victim_consents.load(self.victim_id)
        return [ConsentType.from_row(c) for c in consents]

    @strawberry.field(
        description="The self-referral this referral was triaged from; null when the Hub referred the victim itself.",
        permission_classes=[requires(Scope.REFERRALS_READ)],
    )
    async def intake_item(self, info: Info) -> IntakeItemType | None:
        item = await info.context.loaders(ReferralLoaders).referral_intake_items.load(int(self.id))
        return IntakeItemType.from_row(item) if item is not None else None


@strawberry.type
class ReferralPage:
    items: list[ReferralType]
    next_cursor: str | None


@strawberry.type(name="IntakeItem", description="A self-referral waiting for a co-ordinator to triage it.")
class IntakeItemType:
    id: strawberry.ID
    confirmation_reference: str
    status: IntakeStatus
    given_name: str
    family_name: str
    phone: str | None
    email: str | None
    safe_contact: SafeContact
    submitted_at: datetime
    referral_id: strawberry.ID | None = strawberry.field(
        description="The referral triage made of it; null while new or once closed."
    )

    @classmethod
    def from_row(cls, row: SelfReferral) -> IntakeItemType:
        return cls(
            id=strawberry.ID(str(row.id)),
            confirmation_reference=row.confirmation_reference,
            status=IntakeStatus(row.status),
            given_name=row.given_name,
            family_name=row.family_name,
            phone=row.phone,
            email=row.email,
            safe_contact=SafeContact.from_row(row),
            submitted_at=row.received_at,
            referral_id=strawberry.ID(str(row.referral_id)) if row.referral_id is not None else None,
        )

    @strawberry.field(
        description="The referral triage made of it, with its consents and tasks.",
        permission_classes=[requires(Scope.REFERRALS_READ)],
    )
    async def referral(self, info: Info) -> ReferralType | None:
        if self.referral_id is None:
            return None
        referral_id = int(self.referral_id)
        try:
            found = await info.context.session.run(
                lambda db: service.get_referral(db=db, actor=caller(info), referral_id=referral_id)
            )
        except DomainError:
            return None  # missing and not-yours look the same
        return ReferralType.from_row(found)


@strawberry.type
class IntakePage:
    items: list[IntakeItemType]
    next_cursor: str | None
