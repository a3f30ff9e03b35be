"""The delivery rollup: the monitoring counts kept per provider, quarter, metric and category as tasks change."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

# The two working series besides the report's metrics (see DeliveryRollup).
OPEN_DELTA = "open-delta"
CONTACT_SECONDS = "first-contact-seconds"


class DeliveryRollup(SQLModel, table=True):
    """One count the monitoring report sums: maintained in the transaction of every change that moves it.

    Besides the report's own metrics it keeps two working series: `open-delta` (+1 in the quarter a task was
    sent, -1 in the quarter it closed, so "in progress" at a quarter's end is their running sum) and
    `first-contact-seconds` (first contacts by whole seconds from sending, so medians need no task rows).
    """

    __tablename__ = "delivery_rollup"

    provider_organisation_id: int = Field(foreign_key="organisations.id", primary_key=True)
    period: str = Field(max_length=7, primary_key=True)  # a quarter label, e.g. 2026-Q3: sorts as time does
    metric: str = Field(max_length=40, primary_key=True)
    category: str = Field(max_length=40, primary_key=True)
    count: int = Field(default=0, nullable=False)
