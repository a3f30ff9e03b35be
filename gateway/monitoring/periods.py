"""Financial quarters: the UK public-sector year runs 1 April to 31 March and is reported in four quarters.

A quarter is labelled by the calendar year its financial year starts in and its number:
`2026-Q1` is April to June 2026, `2026-Q2` July to September 2026, `2026-Q3` October to December 2026
and `2026-Q4` January to March 2027. Boundaries are midnight in UK local time (Europe/London).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.errors import ValidationFailed

UK_TIME = ZoneInfo("Europe/London")
QUARTER_LABEL = re.compile(r"^(?P<year>\d{4})-Q(?P<number>[1-4])$")
FIRST_MONTH_OF_QUARTER = {1: 4, 2: 7, 3: 10, 4: 1}
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


@dataclass(frozen=True, slots=True, order=True)
class Quarter:
    financial_year: int  # the calendar year the financial year starts in
    number: int  # 1 to 4

    @classmethod
    def parse(cls, label: str) -> Quarter:
        """A quarter from its label, e.g. 2026-Q3; anything else is a validation error."""
        match = QUARTER_LABEL.match(label.strip())
        if match is None or not EARLIEST_YEAR <= int(match["year"]) <= LATEST_YEAR:
            raise ValidationFailed("A period is a financial quarter such as 2026-Q3 (2026/27, October to December).")
        return cls(int(match["year"]), int(match["number"]))

    @property
    def label(self) -> str:
        return f"{self.financial_year}-Q{self.number}"

    @property
    def starts_at(self) -> datetime:
        """The first instant of the quarter, in UTC."""
        year = self.financial_year + 1 if self.number == 4 else self.financial_year
        local = datetime(year, FIRST_MONTH_OF_QUARTER[self.number], 1, tzinfo=UK_TIME)
        return local.astimezone(UTC)

    @property
    def ends_at(self) -> datetime:
        """The first instant after the quarter, in UTC."""
        return self.next().starts_at

    def next(self) -> Quarter:
        return (
            Quarter(self.financial_year + 1, 1) if self.number == 4 else Quarter(self.financial_year, self.number + 1)
        )

    def __str__(self) -> str:
        return self.label


def quarters_between(first: Quarter, last: Quarter) -> list[Quarter]:
    """Every quarter from first to last inclusive, in order."""
    if last < first:
        raise ValidationFailed("The last period must not come before the first.")
    found = [first]
    while found[-1] != last:
        found.append(found[-1].next())
    return found


def quarter_containing(moment: datetime) -> Quarter:
    """The financial quarter an instant falls in."""
    local = moment.astimezone(UK_TIME)
    financial_year = local.year if local.month >= 4 else local.year - 1
    return Quarter(financial_year, (local.month - 4) % 12 // 3 + 1)
