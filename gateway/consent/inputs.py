"""GraphQL inputs for consent, and their conversion to the service's input value."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.consent.models import ConsentMethod
from gateway.consent.service import ConsentInput as ConsentValues
from gateway.graphql.ids import choice
from gateway.victims.models import ConsentGiver
from providers.profile import VictimField


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
class WithdrawConsentInput:
    consent_id: strawberry.ID
    idempotency_key: str
