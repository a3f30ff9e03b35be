"""What the monitoring counts: metrics, their categories, and the cell one count is kept in."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from gateway.referrals.models import CancelReason, RejectReason
from gateway.victims.models import PREFER_NOT_TO_SAY, AgeBand, Disability, Sex
from providers.profile import MojOutcome

NOT_ASKED = "not-asked"
UNRECOGNISED = "unrecognised"
# The five ONS 2021 census high-level groups. Ethnicity is recorded as text; anything else is reported as
# "unrecognised", so no value typed at the Hub is ever echoed to the Commissioner.
ETHNIC_GROUPS = ("asian", "black", "mixed", "white", "other", PREFER_NOT_TO_SAY)
HOUR = 3600


class Metric(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REJECTED_BY_REASON = "rejected-by-reason"
    CANCELLED = "cancelled"
    CANCELLED_BY_REASON = "cancelled-by-reason"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"
    FIRST_CONTACTS = "first-contacts"
    FIRST_CONTACT_BAND = "first-contact-band"
    FIRST_CONTACT_WITHIN_TARGET = "first-contact-within-target"
    IMPROVED = "improved"
    # Completed minus improved, per measure. Never published, but it is derivable, so it is protected too.
    NOT_IMPROVED_OR_OTHER = "not-improved-or-other"
    STATISTICS_DECLINED = "statistics-declined"
    AGE_BAND = "age-band"
    SEX = "sex"
    ETHNICITY = "ethnicity"
    DISABILITY = "disability"


class ContactBand(StrEnum):
    WITHIN_24_HOURS = "within-24-hours"
    FROM_24_TO_48_HOURS = "24-to-48-hours"
    OVER_48_HOURS = "over-48-hours"


EQUALITY_CATEGORIES: dict[Metric, tuple[str, ...]] = {
    Metric.AGE_BAND: (*(a.value for a in AgeBand), NOT_ASKED, UNRECOGNISED),
    Metric.SEX: (*(s.value for s in Sex), NOT_ASKED, UNRECOGNISED),
    Metric.ETHNICITY: (*ETHNIC_GROUPS, NOT_ASKED, UNRECOGNISED),
    Metric.DISABILITY: (*(d.value for d in Disability), NOT_ASKED, UNRECOGNISED),
}
CATEGORIES: dict[Metric, tuple[str, ...]] = {
    Metric.REJECTED_BY_REASON: tuple(r.value for r in RejectReason),
    Metric.CANCELLED_BY_REASON: tuple(r.value for r in CancelReason),
    Metric.FIRST_CONTACT_BAND: tuple(b.value for b in ContactBand),
    Metric.IMPROVED: tuple(m.value for m in MojOutcome),
    Metric.NOT_IMPROVED_OR_OTHER: tuple(m.value for m in MojOutcome),
    **EQUALITY_CATEGORIES,
}
# Metrics whose whole-range figure is not the sum of its quarters: a snapshot at the end of each quarter.
SNAPSHOT_METRICS = frozenset({Metric.IN_PROGRESS})


class Cell(NamedTuple):
    """One count: a metric and category, for one provider (None: all) and quarter index (None: the range)."""

    metric: str
    category: str
    provider: int | None
    quarter: int | None


def metric_categories() -> list[tuple[Metric, str]]:
    """Every metric with each of its categories; a metric without categories has the one category ""."""
    return [(metric, category) for metric in Metric for category in CATEGORIES.get(metric, ("",))]
