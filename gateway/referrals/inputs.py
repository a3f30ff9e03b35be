"""GraphQL inputs for referrals and their conversion to the services' input values.

Inputs carry only what a caller may set: never a status, an organisation or a version other than the one seen.
Codes arrive as GraphQL enums generated from the domain's StrEnums, so graphql-core refuses an unknown one before
any resolver runs. Text is bounded per field (gateway.graphql.bounds) and checked before the resolver too.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from gateway.consent.inputs import ConsentInput
from gateway.directory.vocabularies import CrimeCategory, Need
from gateway.graphql.bounds import CODE, KEY, NOTE, REFERENCE, bounded
from gateway.referrals.service import CaseInput as CaseValues
from gateway.referrals.service import TriageReferral
from gateway.referrals.vocabularies import (
    ArrivalRoute,
    CancelReason,
    ContactMethod,
    ContactResult,
    DomesticAbuseRisk,
    FailReason,
    IntakeCloseReason,
    RejectReason,
)
from gateway.victims.inputs import GuardianInput, VictimInput


@strawberry.input
class CaseInput:
    arrival_route: ArrivalRoute
    reported_to_police: bool
    crime_category: CrimeCategory
    domestic_abuse_risk: DomesticAbuseRisk
    needs: list[Need]
    crime_reference: str | None = bounded(REFERENCE, default=None)
    priority_most_serious_crime: bool = False
    priority_persistently_targeted: bool = False
    priority_vulnerable_or_intimidated: bool = False
    assessment_notes: str | None = bounded(NOTE, default=None)

    def values(self) -> CaseValues:
        return CaseValues(
            arrival_route=self.arrival_route,
            reported_to_police=self.reported_to_police,
            crime_category=self.crime_category,
            domestic_abuse_risk=self.domestic_abuse_risk,
            needs=frozenset(self.needs),
            crime_reference=self.crime_reference,
            priority_most_serious_crime=self.priority_most_serious_crime,
            priority_persistently_targeted=self.priority_persistently_targeted,
            priority_vulnerable_or_intimidated=self.priority_vulnerable_or_intimidated,
            assessment_notes=self.assessment_notes,
        )


@strawberry.input
class CreateReferralInput:
    idempotency_key: str = bounded(KEY)
    victim: VictimInput
    case: CaseInput
    consents: list[ConsentInput]
    providers: list[str] = bounded(CODE, description="Provider slugs; one draft task is made for each.")


@strawberry.input(description="A change to a task: its id, the version you saw, and a key that makes retries safe.")
class TaskChangeInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str = bounded(KEY)


@strawberry.input
class SendTaskInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str = bounded(KEY)
    safeguarding_justification: str | None = bounded(
        NOTE, default=None, description="Only to share without consent for safeguarding; needs consent:override."
    )


@strawberry.input
class RejectTaskInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str = bounded(KEY)
    reason: RejectReason


@strawberry.input
class CancelTaskInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str = bounded(KEY)
    reason: CancelReason


@strawberry.input
class FailTaskInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str = bounded(KEY)
    reason: FailReason


@strawberry.input
class RecordContactAttemptInput:
    task_id: strawberry.ID
    attempted_at: datetime
    method: ContactMethod
    result: ContactResult
    idempotency_key: str = bounded(KEY)


@strawberry.input
class RecordFirstContactInput:
    task_id: strawberry.ID
    expected_version: int
    contacted_at: datetime
    idempotency_key: str = bounded(KEY)


@strawberry.input(description="Turn a self-referral into a case (give `case`) or close it (give `closeReason`).")
class TriageSelfReferralInput:
    intake_id: strawberry.ID
    idempotency_key: str = bounded(KEY)
    case: CaseInput | None = None
    guardian: GuardianInput | None = None
    close_reason: IntakeCloseReason | None = None
    consents: list[ConsentInput] = strawberry.field(
        default_factory=list,
        description="Consents the victim gave when the co-ordinator spoke to them; may be recorded later instead.",
    )
    providers: list[str] = bounded(
        CODE,
        default_factory=list,
        description="Provider slugs; one draft task is made for each, and a consent above must cover each.",
    )
    date_of_birth: date | None = strawberry.field(
        default=None,
        description="The victim's date of birth, when they gave it on the call; it replaces the form's.",
    )

    def referral(self) -> TriageReferral | None:
        if self.case is None:
            return None
        return TriageReferral(
            case=self.case.values(),
            guardian=self.guardian.values() if self.guardian else None,
            consents=tuple(c.values() for c in self.consents),
            provider_slugs=tuple(self.providers),
            date_of_birth=self.date_of_birth,
        )


@strawberry.input(description="Add a draft task for a provider to a referral; a standing consent must cover it.")
class AddReferralTaskInput:
    referral_id: strawberry.ID
    provider: str = bounded(CODE, description="The provider's slug.")
    idempotency_key: str = bounded(KEY)


@strawberry.input(description="Record a consent given by, or for, the victim of a referral.")
class RecordConsentInput:
    referral_id: strawberry.ID
    consent: ConsentInput
    idempotency_key: str = bounded(KEY)
