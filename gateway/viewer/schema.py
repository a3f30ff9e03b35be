"""Resolver for `viewer`: lets a partner check what its token grants."""

from __future__ import annotations

import strawberry

from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.permissions import Authenticated
from gateway.viewer.types import ViewerType


@strawberry.type
class ViewerQuery:
    @strawberry.field(
        description="The calling organisation and what its token grants.", permission_classes=[Authenticated]
    )
    def viewer(self, info: Info) -> ViewerType:
        return ViewerType.from_principal(caller(info))
