"""RJ's vocabularies as GraphQL enums from its StrEnums; see gateway.directory.vocabularies."""

from __future__ import annotations

import strawberry

from gateway.restorative_justice.models import (
    CaseSource,
    ClosureReason,
    ConferenceStatus,
    FacilitatorRole,
    InterventionKind,
    PartyRole,
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

__all__ = [
    "CaseSource",
    "ClosureReason",
    "ConferenceStatus",
    "FacilitatorRole",
    "InterventionKind",
    "PartyRole",
    "RjStage",
    "Satisfaction",
]
