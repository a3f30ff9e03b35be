"""The consent domain's vocabularies as GraphQL enums from its StrEnums; see gateway.directory.vocabularies."""

from __future__ import annotations

import strawberry

from gateway.consent.models import ConsentMethod
from gateway.consent.service import ConsentState

strawberry.enum(ConsentMethod, name="ConsentMethod", description="How consent was given.")
strawberry.enum(ConsentState, name="ConsentState", description="The standing of the consent behind a task.")

__all__ = ["ConsentMethod", "ConsentState"]
