"""The referral domain's vocabularies as GraphQL enums from its StrEnums; see gateway.directory.vocabularies."""

from __future__ import annotations

import strawberry

from gateway.referrals.models import (
    ArrivalRoute,
    CancelReason,
    ContactMethod,
    ContactResult,
    DomesticAbuseRisk,
    FailReason,
    IntakeStatus,
    RejectReason,
    TaskStatus,
)
from gateway.referrals.service import IntakeCloseReason, OverdueReason

strawberry.enum(ArrivalRoute, name="ArrivalRoute", description="How the victim came to the Hub.")
strawberry.enum(DomesticAbuseRisk, name="DomesticAbuseRisk", description="The domestic-abuse risk level.")
strawberry.enum(TaskStatus, name="TaskStatus", description="Where a task is in its lifecycle.")
strawberry.enum(RejectReason, name="RejectReason", description="Why a provider rejects a task.")
strawberry.enum(CancelReason, name="CancelReason", description="Why the Hub cancels a task.")
strawberry.enum(FailReason, name="FailReason", description="Why a provider closes its work as failed.")
strawberry.enum(ContactMethod, name="ContactMethod", description="How a provider tried to reach the victim.")
strawberry.enum(ContactResult, name="ContactResult", description="What came of a try at reaching the victim.")
strawberry.enum(IntakeStatus, name="IntakeStatus", description="Where a self-referral is.")
strawberry.enum(IntakeCloseReason, name="IntakeCloseReason", description="Why triage closed a self-referral.")
strawberry.enum(OverdueReason, name="OverdueReason", description="Which target a task has missed.")

__all__ = [
    "ArrivalRoute",
    "CancelReason",
    "ContactMethod",
    "ContactResult",
    "DomesticAbuseRisk",
    "FailReason",
    "IntakeCloseReason",
    "IntakeStatus",
    "OverdueReason",
    "RejectReason",
    "TaskStatus",
]
