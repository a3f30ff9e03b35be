"""Resolvers for the public provider directory."""

from __future__ import annotations

import strawberry

from gateway.directory import service
from gateway.directory.types import ProviderType
from gateway.graphql.permissions import Public


@strawberry.type
class DirectoryQuery:
    @strawberry.field(
        description="The commissioned providers' public profiles. Needs no token.", permission_classes=[Public]
    )
    def providers(self) -> list[ProviderType]:
        return [ProviderType.from_profile(p) for p in service.list_provider_profiles()]
