"""GraphQL inputs for a victim's details, and their conversion to the services' input values."""

from __future__ import annotations

import dataclasses
from datetime import date

import strawberry

from gateway.graphql.ids import optional_choice
from gateway.victims.models import AgeBand, Disability, Sex
from gateway.victims.service import EqualityInput as EqualityValues
from gateway.victims.service import GuardianInput as GuardianValues
from gateway.victims.service import SafeContactInput as SafeContactValues
from gateway.victims.service import VictimInput as VictimValues


@strawberry.input
class SafeContactInput:
    safe_phone: str | None = None
    safe_times: str | None = None
    voicemail_safe: bool = False
    letters_safe: bool = False
    perpetrator_shares_address: bool = False

    def values(self) -> SafeContactValues:
        # Field for field the service's value, so the names are not written out a third time; a name that drifts
        # fails every call, and the API tests make such calls.
        return SafeContactValues(**dataclasses.asdict(self))


@strawberry.input
class GuardianInput:
    name: str
    relationship: str
    phone: str | None = None
    email: str | None = None

    def values(self) -> GuardianValues:
        return GuardianValues(**dataclasses.asdict(self))


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
