"""The banner `make run` prints before serving."""

from __future__ import annotations

from gateway.db import create_engine, create_session_factory
from gateway.organisations.service import list_organisations
from gateway.seed import (
    DEMO_PROVIDER_CASEWORKERS,
    DEMO_USERS,
    demo_caseworker_email,
    demo_caseworker_password,
    demo_client_id,
    demo_client_secret,
    demo_user_email,
    demo_user_password,
)
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
        f"  Staff portal (sign in as a demo person below): {base_url}/portal/",
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
        "Get a token as the Hub's demo machine client (client credentials, secret in Basic auth):",
        f"  TOKEN=$(curl -s -u {demo_client_id('hub')}:{demo_client_secret('hub')} -d grant_type=client_credentials \\",
        f"    {base_url}/oauth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        f"  curl -s {base_url}/graphql -H \"authorization: Bearer $TOKEN\" -H 'content-type: application/json' \\",
        '    -d \'{"query": "{ viewer { organisation scopes } }"}\'',
        "The demo casework is fictional; as the Hub, try the referrals (with cpn-demo's token, the provider's inbox):",
        '    -d \'{"query": "{ referrals(first: 20) { items { id tasks { reference provider status } } } }"}\'',
        '    -d \'{"query": "{ inbox(first: 20) { items { reference status victim { givenName } } } }"}\'',
        "",
        "Demo machine clients: <slug>-demo with secret demo-secret-<slug>, one per organisation above.",
        f"Demo staff, who sign in to the staff portal at {base_url}/portal/ (or through any code + PKCE client):",
        *(f"  {demo_user_email(role):<46} {demo_user_password(role)}" for role in DEMO_USERS),
        *(
            f"  {demo_caseworker_email(slug):<46} {demo_caseworker_password(slug)}"
            for slug in DEMO_PROVIDER_CASEWORKERS
        ),
        f"OAuth metadata: {base_url}/.well-known/oauth-authorization-server",
        "",
    ]
    return "\n".join(lines)
