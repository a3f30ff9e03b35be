"""GraphQL shapes for consent: the Hub's record of it, and its standing as the provider of a task sees it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.consent.models import Consent
from gateway.consent.vocabularies import ConsentMethod, ConsentState
from gateway.directory.vocabularies import VictimField
from gateway.victims.vocabularies import ConsentGiver


@strawberry.type(name="Consent", description="A consent record as the Hub took it.")
class ConsentType:
    id: strawberry.ID
    given_by: ConsentGiver
    method: ConsentMethod
    given_at: datetime
    providers: list[str]
    data_categories: list[VictimField]
    statistics_consent: bool
    withheld_information: str | None
    withheld_reason: str | None
    expires_at: datetime | None
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row: Consent) -> ConsentType:
        return cls(
            id=strawberry.ID(str(row.id)),
            given_by=ConsentGiver(row.given_by),
            method=ConsentMethod(row.method),
            given_at=row.given_at,
            providers=list(row.provider_slugs),
            data_categories=[VictimField(c) for c in row.data_categories],
            statistics_consent=row.statistics_consent,
            withheld_information=row.withheld_information,
            withheld_reason=row.withheld_reason,
            expires_at=row.expires_at,
            withdrawn_at=row.withdrawn_at,
        )


@strawberry.type(name="TaskConsent", description="The standing of the consent behind a task; no free text.")
class TaskConsentType:
    # Resolvers return the service's TaskConsentSummary itself: these fields read its attributes.
    state: ConsentState
    given_by: ConsentGiver | None
    method: ConsentMethod | None
    given_at: datetime | None
    expires_at: datetime | None
    data_categories: list[VictimField]
