"""GraphQL inputs for grants: parsed into the service's values before any rule runs."""

from __future__ import annotations

import strawberry

from gateway.grants.service import GrantInput as GrantValues
from gateway.grants.service import GrantTargetInput as GrantTargetValues
from gateway.grants.vocabularies import FundingSource, TargetMeasure
from gateway.graphql.bounds import CODE, KEY, REFERENCE, bounded


@strawberry.input(description="Counts are per quarter; shares are percentages from 0 to 100.")
class GrantTargetInput:
    measure: TargetMeasure
    value: float


@strawberry.input
class GrantInput:
    provider: str = bounded(CODE, description="The provider's slug, e.g. cpn.")
    reference: str = bounded(REFERENCE)
    amount_pence: int
    first_financial_year: int
    last_financial_year: int
    funding_source: FundingSource
    services_funded: list[str] = bounded(CODE)
    targets: list[GrantTargetInput] = strawberry.field(default_factory=list)

    def values(self) -> GrantValues:
        return GrantValues(
            provider_slug=self.provider,
            reference=self.reference,
            amount_pence=self.amount_pence,
            first_financial_year=self.first_financial_year,
            last_financial_year=self.last_financial_year,
            funding_source=self.funding_source,
            services_funded=tuple(self.services_funded),
            targets=tuple(GrantTargetValues(measure=t.measure, value=t.value) for t in self.targets),
        )


@strawberry.input
class CreateGrantInput:
    grant: GrantInput
    idempotency_key: str = bounded(KEY)


@strawberry.input
class UpdateGrantInput:
    grant_id: strawberry.ID
    expected_version: int
    grant: GrantInput
    idempotency_key: str = bounded(KEY)
