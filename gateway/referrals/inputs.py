"""GraphQL inputs for referrals and their conversion to the services' input values.

Inputs carry only what a caller may set: never a status, an organisation or a version other than the one seen.
Codes arrive as strings and are checked here, so a bad one is a `validation` error like any other refusal.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

import strawberry

from gateway.consent.models import ConsentMethod
from gateway.consent.service import ConsentInput as ConsentValues
from gateway.errors import ValidationFailed
from gateway.referrals.models import ArrivalRoute, DomesticAbuseRisk
from gateway.referrals.service import CaseInput as CaseValues
from gateway.victims.models import AgeBand, ConsentGiver, Disability, Sex
from gateway.victims.service import EqualityInput as EqualityValues
from gateway.victims.service import GuardianInput as GuardianValues
from gateway.victims.service import SafeContactInput as SafeContactValues
from gateway.victims.service import VictimInput as VictimValues
from providers.profile import CrimeCategory, Need, VictimField

E = TypeVar("E", bound=StrEnum)


def choice(kind: type[E], value: str, what: str) -> E:
    """The code as the domain's enum, or a validation error listing what is allowed."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValidationFailed(f"Unknown {what}; use one of: {allowed}.") from None


def optional_choice(kind: type[E], value: str | None, what: str) -> E | None:
    return None if value is None else choice(kind, value, what)


def record_id(value: strawberry.ID, what: str) -> int:
    text = str(value)
    if not text.isdigit():
        raise ValidationFailed(f"That is not a {what} id.")
    return int(text)


@strawberry.input
class SafeContactInput:
    safe_phone: str | None = None
    safe_times: str | None = None
    voicemail_safe: bool = False
    letters_safe: bool = False
    perpetrator_shares_address: bool = False

    def values(self) -> SafeContactValues:
        return SafeContactValues(
            safe_phone=self.safe_phone,
            safe_times=self.safe_times,
            voicemail_safe=self.voicemail_safe,
            letters_safe=self.letters_safe,
            perpetrator_shares_address=self.perpetrator_shares_address,
        )


@strawberry.input
class GuardianInput:
    name: str
    relationship: str
    phone: str | None = None
    email: str | None = None

    def values(self) -> GuardianValues:
        return GuardianValues(name=self.name, relationship=self.relationship, phone=self.phone, email=self.email)


@strawberry.input(description="Optional equality monitoring; each answer allows prefer-not-to-say.")
class EqualityInput:
    age_band: str | None = None
    sex: str | None = None
    ethnicity: str | None = None
    disability: str | None = None

    def values(self) -> EqualityValues:
        return EqualityValues(
            age_band=optional_choice(AgeBand, self.age_band, "age band"),
            sex=optional_choice(Sex, self.sex, "sex"),
            ethnicity=self.ethnicity,
            disability=optional_choice(Disability, self.disability, "disability answer"),
        )


@strawberry.input
class VictimInput:
    given_name: str
    family_name: str
    date_of_birth: date | None = None
    address: str | None = None
    postcode: str | None = None
    phone: str | None = None
    email: str | None = None
    guardian: GuardianInput | None = None
    safe_contact: SafeContactInput | None = None
    language: str | None = None
    interpreter_needed: bool = False
    equality: EqualityInput | None = None

    def values(self) -> VictimValues:
        return VictimValues(
            given_name=self.given_name,
            family_name=self.family_name,
            date_of_birth=self.date_of_birth,
            address=self.address,
            postcode=self.postcode,
            phone=self.phone,
            email=self.email,
            guardian=self.guardian.values() if self.guardian else None,
            safe_contact=self.safe_contact.values() if self.safe_contact else SafeContactValues(),
            language=self.language,
            interpreter_needed=self.interpreter_needed,
            equality=self.equality.values() if self.equality else EqualityValues(),
        )


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


@strawberry.input(description="Who consented, how and when, to which providers and which categories of data.")
class ConsentInput:
    given_by: str
    method: str
    given_at: datetime
    providers: list[str]
    data_categories: list[str]
    statistics_consent: bool
    withheld_information: str | None = None
    withheld_reason: str | None = None
    expires_at: datetime | None = None

    def values(self) -> ConsentValues:
        return ConsentValues(
            given_by=choice(ConsentGiver, self.given_by, "consent giver"),
            method=choice(ConsentMethod, self.method, "consent method"),
            given_at=self.given_at,
            provider_slugs=frozenset(self.providers),
            data_categories=frozenset(choice(VictimField, c, "data category") for c in self.data_categories),
            statistics_consent=self.statistics_consent,
            withheld_information=self.withheld_information,
            withheld_reason=self.withheld_reason,
            expires_at=self.expires_at,
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


@strawberry.input
class WithdrawConsentInput:
    consent_id: strawberry.ID
    idempotency_key: str


@strawberry.input(description="Turn a self-referral into a case (give `case`) or close it (give `closeReason`).")
class TriageSelfReferralInput:
    intake_id: strawberry.ID
    idempotency_key: str
    case: CaseInput | None = None
    guardian: GuardianInput | None = None
    close_reason: str | None = None
