"""GraphQL inputs for consent, and their conversion to the service's input value."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.consent.service import ConsentInput as ConsentValues
from gateway.consent.vocabularies import ConsentMethod
from gateway.directory.vocabularies import VictimField
from gateway.graphql.bounds import CODE, KEY, NOTE, bounded
from gateway.victims.vocabularies import ConsentGiver


@strawberry.input(description="Who consented, how and when, to which providers and which categories of data.")
class ConsentInput:
    given_by: ConsentGiver
    method: ConsentMethod
    given_at: datetime
    providers: list[str] = bounded(CODE)
    data_categories: list[VictimField]
    statistics_consent: bool
    withheld_information: str | None = bounded(NOTE, default=None)
    withheld_reason: str | None = bounded(NOTE, default=None)
    expires_at: datetime | None = None

    def values(self) -> ConsentValues:
        return ConsentValues(
            given_by=self.given_by,
            method=self.method,
            given_at=self.given_at,
            provider_slugs=frozenset(self.providers),
            data_categories=frozenset(self.data_categories),
            statistics_consent=self.statistics_consent,
            withheld_information=self.withheld_information,
            withheld_reason=self.withheld_reason,
            expires_at=self.expires_at,
        )


@strawberry.input
class WithdrawConsentInput:
    consent_id: strawberry.ID
    idempotency_key: str = bounded(KEY)
