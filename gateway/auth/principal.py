"""Who is calling: the organisation, its scopes, and the user or machine client acting for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Scope(StrEnum):
    """Every permission the gateway knows. A GraphQL field or service rule names one of these."""

    REFERRALS_READ = "referrals:read"
    REFERRALS_WRITE = "referrals:write"
    CONSENT_OVERRIDE = "consent:override"  # safeguarding sharing without consent
    TASKS_READ = "tasks:read"
    TASKS_WRITE = "tasks:write"
    OUTCOMES_WRITE = "outcomes:write"
    RJ_MANAGE = "rj:manage"
    RJ_FACILITATE = "rj:facilitate"
    MONITORING_READ = "monitoring:read"
    GRANTS_WRITE = "grants:write"
    AUDIT_READ = "audit:read"
    ADMIN = "admin"
    # The data-protection officer's tools: retention, legal holds, subject access, rectification.
    DATA_PROTECTION = "data-protection"


class Role(StrEnum):
    HUB_COORDINATOR = "hub-coordinator"
    HUB_SUPERVISOR = "hub-supervisor"
    PROVIDER_CASEWORKER = "provider-caseworker"
    PROVIDER_MANAGER = "provider-manager"
    RJ_COORDINATOR = "rj-coordinator"
    RJ_FACILITATOR = "rj-facilitator"
    COMMISSIONER_ANALYST = "commissioner-analyst"
    GRANT_MANAGER = "grant-manager"
    ADMINISTRATOR = "administrator"
    DATA_PROTECTION_OFFICER = "data-protection-officer"


# What each role of person may do; a signed-in user's token carries the union for their roles.
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.HUB_COORDINATOR: frozenset({Scope.REFERRALS_READ, Scope.REFERRALS_WRITE}),
    Role.HUB_SUPERVISOR: frozenset(
        {Scope.REFERRALS_READ, Scope.REFERRALS_WRITE, Scope.CONSENT_OVERRIDE, Scope.AUDIT_READ}
    ),
    Role.PROVIDER_CASEWORKER: frozenset({Scope.TASKS_READ, Scope.TASKS_WRITE, Scope.OUTCOMES_WRITE}),
    Role.PROVIDER_MANAGER: frozenset({Scope.TASKS_READ, Scope.TASKS_WRITE, Scope.OUTCOMES_WRITE}),
    Role.RJ_COORDINATOR: frozenset({Scope.TASKS_READ, Scope.TASKS_WRITE, Scope.OUTCOMES_WRITE, Scope.RJ_MANAGE}),
    Role.RJ_FACILITATOR: frozenset({Scope.RJ_FACILITATE}),
    # The Commissioner's office: the analyst reads the figures; the grant manager reads them and records grants.
    Role.COMMISSIONER_ANALYST: frozenset({Scope.MONITORING_READ}),
    Role.GRANT_MANAGER: frozenset({Scope.MONITORING_READ, Scope.GRANTS_WRITE}),
    Role.ADMINISTRATOR: frozenset({Scope.ADMIN, Scope.AUDIT_READ, Scope.GRANTS_WRITE}),
    Role.DATA_PROTECTION_OFFICER: frozenset({Scope.DATA_PROTECTION, Scope.AUDIT_READ}),
}


def scopes_for_roles(roles: frozenset[Role]) -> frozenset[Scope]:
    return frozenset().union(*(ROLE_SCOPES[r] for r in roles)) if roles else frozenset()


def parse_scopes(text: str) -> frozenset[Scope]:
    """Scopes from a space-separated string; unknown names raise ValueError naming them."""
    names = text.split()
    unknown = sorted(n for n in names if n not in Scope._value2member_map_)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)}")
    return frozenset(Scope(n) for n in names)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, made from a verified access token."""

    organisation_id: int
    organisation_slug: str
    scopes: frozenset[Scope]
    roles: frozenset[Role] = field(default_factory=frozenset)
    user_id: int | None = None
    client_id: str | None = None
    token_id: str | None = None

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes

    @property
    def actor_label(self) -> str:
        """Who acted, for audit rows: a user id or a client id, never a name."""
        return f"user:{self.user_id}" if self.user_id is not None else f"client:{self.client_id}"
