"""Who may use the officer's tools, and the principal the retention schedule acts as."""

from __future__ import annotations

from gateway.auth.principal import Principal, Scope
from gateway.kit import require

RETENTION_CLIENT = "retention-schedule"
PURPOSE_RETENTION = "retention schedule"
PURPOSE_SUBJECT_ACCESS = "subject access request"
PURPOSE_RECTIFICATION = "rectification"
PURPOSE_LEGAL_HOLD = "legal hold"


def require_officer(actor: Principal) -> None:
    """Only the data-protection officer's scope reaches these tools."""
    require(actor, Scope.DATA_PROTECTION)


def retention_actor(organisation_id: int) -> Principal:
    """The schedule acting for the organisation that controls the record, as its audit rows name it."""
    return Principal(
        organisation_id=organisation_id,
        organisation_slug=RETENTION_CLIENT,
        scopes=frozenset({Scope.DATA_PROTECTION}),
        client_id=RETENTION_CLIENT,
    )
