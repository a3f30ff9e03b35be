"""What a caller may ask of the monitoring service: who, at what suppression threshold, over which quarters."""

from __future__ import annotations

from gateway.auth.principal import Principal, Scope
from gateway.errors import ValidationFailed
from gateway.kit import require
from gateway.monitoring.periods import Quarter, quarters_between
from gateway.monitoring.suppression import DEFAULT_THRESHOLD

MAX_QUARTERS = 12


def require_monitoring(actor: Principal, threshold: int) -> None:
    """Only holders of monitoring:read, and a caller may suppress more than the default, never less."""
    require(actor, Scope.MONITORING_READ)
    if threshold < DEFAULT_THRESHOLD:
        raise ValidationFailed(f"The suppression threshold cannot be below {DEFAULT_THRESHOLD}.")


def parse_range(first_period: str, last_period: str) -> list[Quarter]:
    """The quarters from first to last inclusive, at most MAX_QUARTERS of them."""
    quarters = quarters_between(Quarter.parse(first_period), Quarter.parse(last_period))
    if len(quarters) > MAX_QUARTERS:
        raise ValidationFailed(f"Ask for at most {MAX_QUARTERS} quarters at a time.")
    return quarters
