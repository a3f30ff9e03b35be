"""The data-protection domain's vocabularies as GraphQL enums from their StrEnums."""

from __future__ import annotations

import strawberry

from gateway.audit.models import AuditCategory
from gateway.data_protection.service import VictimDetail

strawberry.enum(AuditCategory, name="AuditCategory", description="A kind of processing DPA 2018 s.62 logs.")
strawberry.enum(VictimDetail, name="VictimDetail", description="A detail of a victim the officer may correct.")

__all__ = ["AuditCategory", "VictimDetail"]
