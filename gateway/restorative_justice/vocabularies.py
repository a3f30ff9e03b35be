"""RJ's vocabularies as GraphQL enums from its StrEnums; see gateway.directory.vocabularies."""

from __future__ import annotations

import strawberry

from gateway.restorative_justice.models import (
    AccreditationLevel,
    CaseSource,
    ClosureReason,
    ConferenceStatus,
    FacilitatorRole,
    HomeAgency,
    InterventionKind,
    PartyRole,
    RiskLevel,
    RjStage,
    Satisfaction,
)

strawberry.enum(CaseSource, name="RjCaseSource", description="Who referred an RJ case.")
strawberry.enum(RjStage, name="RjStage", description="Where an RJ case is, in order.")
strawberry.enum(PartyRole, name="RjPartyRole", description="A party's part in an RJ case.")
strawberry.enum(FacilitatorRole, name="RjFacilitatorRole", description="A facilitator's part in an RJ case.")
strawberry.enum(InterventionKind, name="RjInterventionKind", description="How RJ was delivered.")
strawberry.enum(ConferenceStatus, name="RjConferenceStatus", description="Where a conference is.")
strawberry.enum(Satisfaction, name="RjSatisfaction", description="The harmed party's satisfaction at follow-up.")
strawberry.enum(ClosureReason, name="RjClosureReason", description="Why an RJ case was closed.")
strawberry.enum(RiskLevel, name="RjRiskLevel", description="The assessed risk of an RJ case.")
strawberry.enum(HomeAgency, name="RjHomeAgency", description="The agency a facilitator works for.")
strawberry.enum(AccreditationLevel, name="RjAccreditationLevel", description="How far a facilitator is accredited.")

__all__ = [
    "AccreditationLevel",
    "CaseSource",
    "ClosureReason",
    "ConferenceStatus",
    "FacilitatorRole",
    "HomeAgency",
    "InterventionKind",
    "PartyRole",
    "RiskLevel",
    "RjStage",
    "Satisfaction",
]
