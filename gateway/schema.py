"""One place that assembles every domain's queries and mutations into the GraphQL schema."""

from __future__ import annotations

import strawberry

from gateway.data_protection.schema import DataProtectionMutation, DataProtectionQuery
from gateway.directory.schema import DirectoryQuery
from gateway.grants.schema import GrantMutation, GrantQuery
from gateway.graphql.surface import make_schema
from gateway.monitoring.schema import MonitoringQuery
from gateway.notifications.schema import NotificationMutation, NotificationQuery
from gateway.outcomes.schema import OutcomeMutation
from gateway.referrals.schema import ReferralMutation, ReferralQuery
from gateway.restorative_justice.schema import RestorativeJusticeMutation, RestorativeJusticeQuery
from gateway.viewer.schema import ViewerQuery


# The SDL lists a root's fields in the order of its bases, so reordering them changes schema.graphql.
@strawberry.type
class Query(
    DirectoryQuery,
    ViewerQuery,
    ReferralQuery,
    GrantQuery,
    MonitoringQuery,
    RestorativeJusticeQuery,
    NotificationQuery,
    DataProtectionQuery,
):
    pass


@strawberry.type
class Mutation(
    ReferralMutation,
    OutcomeMutation,
    GrantMutation,
    RestorativeJusticeMutation,
    NotificationMutation,
    DataProtectionMutation,
):
    pass


def build_schema(*, production: bool = False, fast_execution: bool = True) -> strawberry.Schema:
    """The gateway's schema; in production introspection and field suggestions are off."""
    return make_schema(query=Query, mutation=Mutation, production=production, fast_execution=fast_execution)


def export_sdl() -> str:
    """The SDL checked in as schema.graphql."""
    return build_schema().as_str() + "\n"
