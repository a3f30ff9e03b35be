"""GraphQL inputs for referrals and their conversion to the services' input values.

Inputs carry only what a caller may set: never a status, an organisation or a version other than the one seen.
Codes arrive as strings and are checked here, so a bad one is a `validation` error like any other refusal.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.consent.inputs import ConsentInput
from gateway.graphql.ids import choice
from gateway.referrals.models import ArrivalRoute, DomesticAbuseRisk
from gateway.referrals.service import CaseInput as CaseValues
from gateway.victims.inputs import GuardianInput, VictimInput
from providers.profile import CrimeCategory, Need


@strawberry.input
class CaseInput:
    arrival_route: str
    reported_to_police: bool
    crime_category: str
    domestic_abuse_risk: str
    needs: list[str]
    crime_reference: str | None = None
    priority_most_serious_crime: bool = False
    priority_persistently_targeted: bool = False
    priority_vulnerable_or_intimidated: bool = False
    assessment_notes: str | None = None

    def values(self) -> CaseValues:
        return CaseValues(
            arrival_route=choice(ArrivalRoute, self.arrival_route, "arrival route"),
            reported_to_police=self.reported_to_police,
            crime_category=choice(CrimeCategory, self.crime_category, "crime category"),
            domestic_abuse_risk=choice(DomesticAbuseRisk, self.domestic_abuse_risk, "domestic-abuse risk level"),
            needs=frozenset(choice(Need, n, "need") for n in self.needs),
            crime_reference=self.crime_reference,
            priority_most_serious_crime=self.priority_most_serious_crime,
            priority_persistently_targeted=self.priority_persistently_targeted,
            priority_vulnerable_or_intimidated=self.priority_vulnerable_or_intimidated,
            assessment_notes=self.assessment_notes,
        )


@strawberry.input
class CreateReferralInput:
    idempotency_key: str
    victim: VictimInput
    case: CaseInput
    consents: list[ConsentInput]
    providers: list[str] = strawberry.field(description="Provider slugs; one draft task is made for each.")


@strawberry.input(description="A change to a task: its id, the version you saw, and a key that makes retries safe.")
class TaskChangeInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str


@strawberry.input
class SendTaskInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str
    safeguarding_justification: str | None = strawberry.field(
        default=None, description="Only to share without consent for safeguarding; needs consent:override."
    )


@strawberry.input
class ReasonedTaskChangeInput:
    task_id: strawberry.ID
    expected_version: int
    idempotency_key: str
    reason: str


@strawberry.input
class RecordContactAttemptInput:
    task_id: strawberry.ID
    attempted_at: datetime
    method: str
    result: str
    idempotency_key: str


@strawberry.input
class RecordFirstContactInput:
    task_id: strawberry.ID
    expected_version: int
    contacted_at: datetime
    idempotency_key: str


@strawberry.input(description="Turn a self-referral into a case (give `case`) or close it (give `closeReason`).")
class TriageSelfReferralInput:
    intake_id: strawberry.ID
    idempotency_key: str
    case: CaseInput | None = None
    guardian: GuardianInput | None = None
    close_reason: str | None = None
