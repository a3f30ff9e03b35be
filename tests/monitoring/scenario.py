"""The quarter of issue 18, as cells for the pure tests and as referrals made through the real services."""

from __future__ import annotations

from datetime import timedelta

from gateway.db import AsyncSession
from gateway.victims.models import AgeBand, Disability, Sex
from gateway.victims.service import EqualityInput
from tests.support.casework import YEAR_START, Clock, sent_task
from tests.support.domain import World, adult_victim, child_victim

# The quarter of issue 18: three providers, 23, 3 and 6 referrals; (declined statistics, age, sex, ethnicity,
# disability) per referral. Under "hide at least two members of every sum" a reader with the published rows
# works out the RJ hub's 2 disabled victims, its 1 Asian victim and its 1 male victim (and the CPN's six
# aged 25-34): each hidden cell sits in sums whose other hidden members cancel.
Victim = tuple[bool, str, str, str, str]
SCENARIO: dict[str, list[Victim]] = {
    "cpn": [
        (False, "35-44", "female", "white", "no"), (False, "35-44", "female", "asian", "no"),
        (False, "25-34", "female", "white", "yes"), (True, "35-44", "female", "white", "no"),
        (False, "18-24", "female", "black", "no"), (False, "18-24", "female", "white", "no"),
        (False, "25-34", "male", "black", "no"), (False, "25-34", "male", "white", "no"),
        (False, "18-24", "female", "white", "no"), (False, "25-34", "female", "black", "no"),
        (False, "35-44", "female", "white", "no"), (False, "18-24", "female", "black", "yes"),
        (False, "18-24", "male", "black", "no"), (True, "25-34", "female", "white", "no"),
        (False, "25-34", "female", "black", "no"), (False, "35-44", "female", "white", "no"),
        (False, "18-24", "female", "white", "no"), (False, "35-44", "female", "white", "no"),
        (False, "35-44", "male", "black", "yes"), (False, "18-24", "female", "black", "no"),
        (False, "35-44", "female", "black", "no"), (False, "25-34", "female", "white", "no"),
        (False, "18-24", "male", "black", "no"),
    ],
    "family-action": [
        (False, "35-44", "female", "black", "no"), (False, "25-34", "female", "white", "no"),
        (False, "25-34", "female", "white", "no"),
    ],
    "rj-hub": [
        (False, "35-44", "male", "asian", "yes"), (False, "25-34", "female", "white", "yes"),
        (False, "25-34", "female", "black", "no"), (False, "35-44", "female", "white", "no"),
        (False, "25-34", "female", "white", "no"), (False, "35-44", "female", "white", "no"),
    ],
}  # fmt: skip


async def issue_quarter(db: AsyncSession, world: World, clock: Clock) -> None:
    """The issue's quarter made through the real services, in 2025-Q1, and a few referrals in 2025-Q2."""
    for slug, victims in SCENARIO.items():
        for index, (declined, age, sex, ethnicity, disability) in enumerate(victims):
            # Family Action takes only children: the equality answers are what the person chose to give.
            make = child_victim if slug == "family-action" else adult_victim
            equality = EqualityInput(
                age_band=AgeBand(age), sex=Sex(sex), ethnicity=ethnicity, disability=Disability(disability)
            )
            victim = make(equality=equality)
            await sent_task(
                db,
                world,
                clock,
                provider=slug,
                sent_at=YEAR_START + timedelta(days=index, hours=1),
                victim=victim,
                statistics_consent=not declined,
            )
    for index in range(7):
        await sent_task(db, world, clock, provider="cpn", sent_at=YEAR_START + timedelta(days=95 + index))
    await db.commit()
