"""GraphQL inputs for a victim's details, and their conversion to the services' input values."""

from __future__ import annotations

import dataclasses
from datetime import date

import strawberry

from gateway.graphql.bounds import ADDRESS, EMAIL, NAME, PHONE, POSTCODE, SHORT_TEXT, bounded
from gateway.victims.service import EqualityInput as EqualityValues
from gateway.victims.service import GuardianInput as GuardianValues
from gateway.victims.service import SafeContactInput as SafeContactValues
from gateway.victims.service import VictimInput as VictimValues
from gateway.victims.vocabularies import AgeBand, Disability, Sex


@strawberry.input
class SafeContactInput:
    safe_phone: str | None = bounded(PHONE, default=None)
    safe_times: str | None = bounded(SHORT_TEXT, default=None)
    voicemail_safe: bool = False
    letters_safe: bool = False
    perpetrator_shares_address: bool = False

    def values(self) -> SafeContactValues:
        # Field for field the service's value, so the names are not written out a third time; a name that drifts
        # fails every call, and the API tests make such calls.
        return SafeContactValues(**dataclasses.asdict(self))


@strawberry.input
class GuardianInput:
    name: str = bounded(NAME)
    relationship: str = bounded(NAME)
    phone: str | None = bounded(PHONE, default=None)
    email: str | None = bounded(EMAIL, default=None)

    def values(self) -> GuardianValues:
        return GuardianValues(**dataclasses.asdict(self))


@strawberry.input(description="Optional equality monitoring; each answer allows prefer-not-to-say.")
class EqualityInput:
    age_band: AgeBand | None = None
    sex: Sex | None = None
    ethnicity: str | None = bounded(SHORT_TEXT, default=None)
    disability: Disability | None = None

    def values(self) -> EqualityValues:
        return EqualityValues(
            age_band=self.age_band,
            sex=self.sex,
            ethnicity=self.ethnicity,
            disability=self.disability,
        )


@strawberry.input
class VictimInput:
    given_name: str = bounded(NAME)
    family_name: str = bounded(NAME)
    date_of_birth: date | None = None
    address: str | None = bounded(ADDRESS, default=None)
    postcode: str | None = bounded(POSTCODE, default=None)
    phone: str | None = bounded(PHONE, default=None)
    email: str | None = bounded(EMAIL, default=None)
    guardian: GuardianInput | None = None
    safe_contact: SafeContactInput | None = None
    language: str | None = bounded(SHORT_TEXT, default=None)
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
