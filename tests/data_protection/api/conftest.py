"""The API world (demo organisations, a signing key, a machine client per role) plus the officer's client."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.auth import service as auth
from gateway.db import create_engine, create_session_factory
from tests.support.api import ApiWorld, Gateway, api_templates, client, database_url, settings, world

__all__ = ["api_templates", "client", "database_url", "gateway", "settings", "world"]

OFFICER_SCOPES = "data-protection audit:read"


async def _add_officer_client(database: str) -> tuple[str, str]:
    engine = create_engine(database)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            created = await auth.add_client(db=db, organisation_slug="hub", name="dpo", scopes=OFFICER_SCOPES)
    finally:
        await engine.dispose()
    assert created.secret is not None
    return created.client.client_id, created.secret


@pytest.fixture
def gateway(client: httpx.AsyncClient, world: ApiWorld) -> Gateway:
    """The API as each role of the API world, and as `dpo`: the Hub's data-protection officer's system."""
    officer = asyncio.run(_add_officer_client(world.settings.database_url))
    return Gateway(client, ApiWorld(settings=world.settings, credentials={**world.credentials, "dpo": officer}))
