"""GraphQL shapes for victims: the Hub's full record, and the parts a provider's view shares with it."""

from __future__ import annotations

from datetime import date
from typing import Protocol

import strawberry

from gateway.victims.models import Victim


class HasSafeContact(Protocol):
    """A row that records safe-contact instructions: a victim, or a self-referral before triage."""

    @property
    def safe_phone(self) -> str | None: ...
    @property
    def safe_times(self) -> str | None: ...
    @property
    def voicemail_safe(self) -> bool: ...
    @property
    def letters_safe(self) -> bool: ...
    @property
    def perpetrator_shares_address(self) -> bool: ...


@strawberry.type(description="Safe-contact instructions: follow them, or the contact may put the victim at risk.")
class SafeContact:
    safe_phone: str | None
    safe_times: str | None
    voicemail_safe: bool
    letters_safe: bool
    perpetrator_shares_address: bool

    @classmethod
    def from_row(cls, row: HasSafeContact) -> SafeContact:
        return cls(
            safe_phone=row.safe_phone,
            safe_times=row.safe_times,
            voicemail_safe=row.voicemail_safe,
            letters_safe=row.letters_safe,
            perpetrator_shares_address=row.perpetrator_shares_address,
        )


@strawberry.type
class Guardian:
    name: str | None
    relationship: str | None
    phone: str | None
    email: str | None

    @classmethod
    def from_row(cls, row: Victim) -> Guardian | None:
        """The victim's guardian, or None when the record names no way to reach one."""
        if not (row.guardian_name or row.guardian_phone or row.guardian_email):
            return None
        return cls(
            name=row.guardian_name,
            relationship=row.guardian_relationship,
            phone=row.guardian_phone,
            email=row.guardian_email,
        )


@strawberry.type(name="Victim", description="The Hub's full record of a victim it referred.")
class HubVictimType:
    id: strawberry.ID
    given_name: str
    family_name: str
    date_of_birth: date | None
    address: str | None
    postcode: str | None
    phone: str | None
    email: str | None
    guardian: Guardian | None
    safe_contact: SafeContact
    language: str | None
    interpreter_needed: bool

    @classmethod
    def from_row(cls, row: Victim) -> HubVictimType:
        return cls(
            id=strawberry.ID(str(row.id)),
            given_name=row.given_name,
            family_name=row.family_name,
            date_of_birth=row.date_of_birth,
            address=row.address,
            postcode=row.postcode,
            phone=row.phone,
            email=row.email,
            guardian=Guardian.from_row(row),
            safe_contact=SafeContact.from_row(row),
            language=row.language,
            interpreter_needed=row.interpreter_needed,
        )
