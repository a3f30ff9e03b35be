"""The victims domain's vocabularies as GraphQL enums from its StrEnums; see gateway.directory.vocabularies."""

from __future__ import annotations

import strawberry

from gateway.victims.models import AgeBand, ConsentGiver, Disability, Sex

strawberry.enum(ConsentGiver, name="ConsentGiver", description="Who gave a consent.")
strawberry.enum(AgeBand, name="AgeBand", description="An age band for equality monitoring.")
strawberry.enum(Sex, name="Sex", description="Sex, for equality monitoring.")
strawberry.enum(Disability, name="Disability", description="Whether the victim considers themself disabled.")

__all__ = ["AgeBand", "ConsentGiver", "Disability", "Sex"]
