"""GraphQL shape for the caller's own identity: organisation, roles and scopes, never a name."""

from __future__ import annotations

import strawberry

from gateway.auth.principal import Principal


@strawberry.type(name="Viewer", description="Who the access token says is calling.")
class ViewerType:
    organisation: str
    kind: str = strawberry.field(description="`user` for a person, `client` for a machine client.")
    scopes: list[str]
    roles: list[str]
    client_id: str | None

    @classmethod
    def from_principal(cls, principal: Principal) -> ViewerType:
        return cls(
            organisation=principal.organisation_slug,
            kind="user" if principal.user_id is not None else "client",
            scopes=sorted(s.value for s in principal.scopes),
            roles=sorted(r.value for r in principal.roles),
            client_id=principal.client_id,
        )
