"""GraphQL shapes for grants, built from rows; the period is whole financial years."""

from __future__ import annotations

import strawberry

from gateway.grants.models import Grant, GrantTarget
from gateway.grants.vocabularies import FundingSource, TargetMeasure


@strawberry.type(name="GrantTarget")
class GrantTargetType:
    measure: TargetMeasure
    value: float

    @staticmethod
    def from_row(row: GrantTarget) -> GrantTargetType:
        return GrantTargetType(measure=TargetMeasure(row.measure), value=row.value)


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
    funding_source: FundingSource
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
            funding_source=FundingSource(row.funding_source),
            services_funded=list(row.services_funded),
            targets=[GrantTargetType.from_row(t) for t in targets],
            version=row.version,
        )
