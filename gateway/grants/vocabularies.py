"""The grants domain's vocabularies as GraphQL enums from its StrEnums; see gateway.directory.vocabularies."""

from __future__ import annotations

import strawberry

from gateway.grants.models import FundingSource, TargetMeasure

strawberry.enum(FundingSource, name="FundingSource", description="Where a grant's money comes from.")
strawberry.enum(TargetMeasure, name="TargetMeasure", description="What a grant target measures.")

__all__ = ["FundingSource", "TargetMeasure"]
