"""The API world of tests/api (demo organisations, a signing key, a machine client per role), reused for RJ."""

from __future__ import annotations

from tests.api import conftest as api

# Fixtures re-bound here so these tests get the API world's database, settings, app client and gateway.
api_templates = api.api_templates
database_url = api.database_url
settings = api.settings
world = api.world
client = api.client
gateway = api.gateway
