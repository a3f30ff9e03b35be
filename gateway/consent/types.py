"""GraphQL shapes for consent: the Hub's record of it, and its standing as the provider of a task sees it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.consent.models import Consent


@strawberry.type(name="Consent", description="A consent record as the Hub took it.")
class ConsentType:
    id: strawberry.ID
    given_by: str
    method: str
    given_at: datetime
    providers: list[str]
    data_categories: list[str]
    statistics_consent: bool
    withheld_information: str | None
    withheld_reason: str | None
    expires_at: datetime | None
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row: Consent) -> ConsentType:
        return cls(
            id=strawberry.ID(str(row.id)),
            given_by=row.given_by,
            method=row.method,
            given_at=row.given_at,
            providers=list(row.provider_slugs),
            data_categories=list(row.data_categories),
            statistics_consent=row.statistics_consent,
            withheld_information=row.withheld_information,
            withheld_reason=row.withheld_reason,
            expires_at=row.expires_at,
            withdrawn_at=row.withdrawn_at,
        )


@strawberry.type(name="TaskConsent", description="The standing of the consent behind a task; no free text.")
class TaskConsentType:
    # Resolvers return the service's TaskConsentSummary itself: these fields read its attributes.
    state: str = strawberry.field(description="valid, withdrawn, expired, none or safeguarding-override.")
    given_by: str | None
    method: str | None
    given_at: datetime | None
    expires_at: datetime | None
    data_categories: list[str]
