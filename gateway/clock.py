"""The one clock every rule reads, and the conversion of stored moments to aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.errors import ValidationFailed

# Clocks differ between the Hub's devices and the server; a moment slightly ahead is still plausible.
ALLOWED_CLOCK_SKEW = timedelta(minutes=5)


def utc_now() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; SQLite returns the naive UTC values it was given."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def not_in_future(moment: datetime, what: str) -> datetime:
    """The moment as aware UTC, refused when it lies ahead of now by more than the allowed skew."""
    moment = as_utc(moment)
    if moment > utc_now() + ALLOWED_CLOCK_SKEW:
        raise ValidationFailed(f"The {what} cannot be in the future.")
    return moment
