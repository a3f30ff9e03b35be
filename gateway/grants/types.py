"""GraphQL shapes and inputs for grants, built from rows; the period is whole financial years."""

from __future__ import annotations

import strawberry

from gateway.grants.models import FundingSource, Grant, GrantTarget, TargetMeasure
from gateway.grants.service import GrantInput as GrantValues
from gateway.grants.service import GrantTargetInput as GrantTargetValues
from gateway.referrals.inputs import choice


@strawberry.type(name="GrantTarget")
class GrantTargetType:
    measure: str
    value: float

    @staticmethod
    def from_row(row: GrantTarget) -> GrantTargetType:
        return GrantTargetType(measure=row.measure, value=row.value)


@strawberry.type(name="Grant", description="A grant to one provider for whole financial years (1 April to 31 March).")
class GrantType:
    id: strawberry.ID
    reference: str
    provider_slug: str
    amount_pence: int
    first_financial_year: int = strawberry.field(
        description="The year the first financial year starts: 2026 is 2026/27."
    )
    last_financial_year: int
    funding_source: str
    services_funded: list[str]
    targets: list[GrantTargetType]
    version: int

    @staticmethod
    def from_row(row: Grant, *, provider_slug: str, targets: list[GrantTarget]) -> GrantType:
        return GrantType(
            id=strawberry.ID(str(row.id)),
            reference=row.reference,
            provider_slug=provider_slug,
            amount_pence=row.amount_pence,
            first_financial_year=row.first_financial_year,
            last_financial_year=row.last_financial_year,
            funding_source=row.funding_source,
            services_funded=list(row.services_funded),
            targets=[GrantTargetType.from_row(t) for t in targets],
            version=row.version,
        )


@strawberry.input(description="Counts are per quarter; shares are percentages from 0 to 100.")
class GrantTargetInput:
    measure: str
    value: float


@strawberry.input
class GrantInput:
    provider: str = strawberry.field(description="The provider's slug, e.g. cpn.")
    reference: str
    amount_pence: int
    first_financial_year: int
    last_financial_year: int
    funding_source: str = strawberry.field(description="moj-victims-services-grant, pcc-core or other.")
    services_funded: list[str]
    targets: list[GrantTargetInput] = strawberry.field(default_factory=list)

    def values(self) -> GrantValues:
        return GrantValues(
            provider_slug=self.provider,
            reference=self.reference,
            amount_pence=self.amount_pence,
            first_financial_year=self.first_financial_year,
            last_financial_year=self.last_financial_year,
            funding_source=choice(FundingSource, self.funding_source, "funding source"),
            services_funded=tuple(self.services_funded),
            targets=tuple(
                GrantTargetValues(measure=choice(TargetMeasure, t.measure, "target measure"), value=t.value)
                for t in self.targets
            ),
        )


@strawberry.input
class CreateGrantInput:
    grant: GrantInput
    idempotency_key: str


@strawberry.input
class UpdateGrantInput:
    grant_id: strawberry.ID
    expected_version: int
    grant: GrantInput
    idempotency_key: str
