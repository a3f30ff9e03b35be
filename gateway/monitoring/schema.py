"""Thin resolvers for the Commissioner's monitoring: monitoring:read only, aggregates only."""

from __future__ import annotations

import strawberry

from gateway.auth.principal import Scope
from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.permissions import requires
from gateway.monitoring import service
from gateway.monitoring.types import MonitoringReportType, QuarterlyReturnType, RjQuarterType, rj_quarter, shaped


@strawberry.type
class MonitoringQuery:
    @strawberry.field(
        description=(
            "Per provider and financial quarter (2026-Q1 is April to June 2026), with all-provider and "
            "whole-range totals; counts from 1 to 4 are suppressed."
        ),
        permission_classes=[requires(Scope.MONITORING_READ)],
    )
    async def monitoring(self, info: Info, first_period: str, last_period: str) -> MonitoringReportType:
        report = await info.context.session.run(
            lambda db: service.monitoring_report(
                db=db, actor=caller(info), first_period=first_period, last_period=last_period
            )
        )
        return shaped(report, MonitoringReportType)

    @strawberry.field(
        description="The quarterly return: per provider, referred, supported and improved per measure, suppressed.",
        permission_classes=[requires(Scope.MONITORING_READ)],
    )
    async def quarterly_return(self, info: Info, period: str) -> QuarterlyReturnType:
        found = await info.context.session.run(
            lambda db: service.quarterly_return(db=db, actor=caller(info), period=period)
        )
        return shaped(found, QuarterlyReturnType)

    @strawberry.field(
        description="The Restorative Justice hub's grant counts per quarter; counts from 1 to 4 are suppressed.",
        permission_classes=[requires(Scope.MONITORING_READ)],
    )
    async def restorative_justice_monitoring(
        self, info: Info, first_period: str, last_period: str
    ) -> list[RjQuarterType]:
        quarters = await info.context.session.run(
            lambda db: service.restorative_justice_monitoring(
                db=db, actor=caller(info), first_period=first_period, last_period=last_period
            )
        )
        return [rj_quarter(q) for q in quarters]
