"""The provider profiles' vocabularies as GraphQL enums, generated from the profiles' own StrEnums.

Registered once, here; GraphQL modules import these names from this module (never from providers.profile) so the
registration has happened before Strawberry reads an annotation. Values in GraphQL are the members' names.
"""

from __future__ import annotations

import strawberry

from gateway.directory.service import GuardianRequirement
from providers.profile import CrimeCategory, MojOutcome, Need, VictimField

strawberry.enum(CrimeCategory, name="CrimeCategory", description="A crime category.")
strawberry.enum(Need, name="Need", description="A need found by the needs assessment.")
strawberry.enum(
    VictimField,
    name="VictimField",
    description="An item of a victim's record: what a provider may receive, and what a consent covers.",
)
strawberry.enum(
    MojOutcome, name="MojOutcome", description="A Ministry of Justice outcome measure, asked of every victim."
)
strawberry.enum(
    GuardianRequirement,
    name="GuardianRequirement",
    description="Whether a referral to a provider must name the victim's parent or guardian.",
)

__all__ = ["CrimeCategory", "GuardianRequirement", "MojOutcome", "Need", "VictimField"]
