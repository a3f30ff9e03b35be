"""Resolver for `viewer`: lets a partner check what its token grants."""

from __future__ import annotations

import strawberry

from gateway.graphql.context import Info
from gateway.graphql.permissions import Authenticated
from gateway.viewer.types import ViewerType


@strawberry.type
class ViewerQuery:
    @strawberry.field(
        description="The calling organisation and what its token grants.", permission_classes=[Authenticated]
    )
    def viewer(self, info: Info) -> ViewerType:
        principal = info.context.principal
        assert principal is not None  # guaranteed by Authenticated
        return ViewerType.from_principal(principal)
