"""The banner `make run` prints before serving."""

from __future__ import annotations

from gateway.db import create_engine, create_session_factory
from gateway.organisations.service import list_organisations
from gateway.settings import Settings


async def welcome_text(settings: Settings, *, base_url: str) -> str:
    """URLs, demo organisations and the first request to try, for the console."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            organisations = await list_organisations(db=db)
    finally:
        await engine.dispose()
    lines = [
        "",
        "Referral gateway (development)",
        f"  GraphQL (GraphiQL in a browser): {base_url}/graphql",
        f"  Health: {base_url}/healthz   Readiness: {base_url}/readyz",
        "",
        "Demo organisations:",
        *(f"  {o.slug:<20} {o.name}  [{', '.join(o.roles)}]" for o in organisations),
        "",
        "Try the public provider directory (no token needed):",
        f"  curl -s {base_url}/graphql -H 'content-type: application/json' \\",
        '    -d \'{"query": "{ providers { slug name firstContactTargetHours } }"}\'',
        "",
    ]
    return "\n".join(lines)
