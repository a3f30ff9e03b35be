"""Demo data for a newcomer's gateway: idempotent, so `make run` can seed every time."""

from __future__ import annotations

from gateway.db import create_engine, create_session_factory
from gateway.organisations.service import demo_organisations, ensure_organisation
from gateway.settings import Settings


async def seed_demo(settings: Settings) -> list[str]:
    """Create whatever of the demo set is missing; returns one line per organisation for the console."""
    engine = create_engine(settings.database_url)
    lines = []
    try:
        async with create_session_factory(engine)() as db, db.begin():
            for spec in demo_organisations():
                organisation, created = await ensure_organisation(db=db, spec=spec)
                state = "created" if created else "exists "
                lines.append(f"{state} organisation {organisation.slug:<20} {', '.join(organisation.roles)}")
    finally:
        await engine.dispose()
    return lines
